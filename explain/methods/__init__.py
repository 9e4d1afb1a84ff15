"""Explanation methods, one module per family; importing this package registers them all.

Modules are discovered, not listed, so adding a method touches only its own
module and its test.
"""
from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
