"""One way to write a number for people, used by figures, reports and the dashboard alike."""
from __future__ import annotations

import math

LARGE = 1000  # from here on, whole numbers with thousands separators (dollars); below, 4 significant digits


def number(value: float, *, signed: bool = False) -> str:
    """``207,786`` for dollars, ``0.0123`` for probabilities, ``-`` for a missing or infinite value."""
    value = float(value)
    if not math.isfinite(value):
        return "–"
    sign = "+" if signed else ""
    return f"{value:{sign},.0f}" if abs(value) >= LARGE else f"{value:{sign}.4g}"
