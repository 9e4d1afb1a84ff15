"""Shared helpers for the benchmarks: reference models, timing, and table printing."""
from __future__ import annotations

import os
import resource
import statistics
import time
from typing import Any, Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import models


def reference(name: str) -> "models.ReferenceModel":
    """A trained reference model from the models directory, trained first if it is missing."""
    if not models.is_trained(name):
        print(f"(training {name} first)", flush=True)
        models.train(name, verbose=0)
    return models.load(name)


def timed(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> tuple[float, Any]:
    """Median wall time of ``fn`` over ``repeat`` runs after ``warmup`` runs, and its last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(rows: Sequence[dict[str, Any]], title: str | None = None) -> str:
    """A Markdown table, so the output can be pasted into the README as is."""
    if not rows:
        return ""
    columns = list(rows[0])
    lines = [f"\n### {title}\n"] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)
