"""The interpretability service: the engine, store and models of the dashboard behind an HTTP API.

Start it with ``explain serve`` (or :func:`create_app` under any ASGI server); call it with
:class:`explain.client.Client`.
"""
from __future__ import annotations

from .app import create_app
from .config import ServiceSettings, StartupRefused, check_startable, read_tokens

__all__ = ["ServiceSettings", "StartupRefused", "check_startable", "create_app", "read_tokens"]
