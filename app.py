"""The Streamlit dashboard: ``streamlit run app.py`` (or ``explain app``).

A thin entry point: the pages live in :mod:`explain.dashboard` and call the same
public functions a Python user calls (``models``, ``explain``); no explanation
logic lives here.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from explain.dashboard import main  # noqa: E402

main()
