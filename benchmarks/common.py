"""Shared helpers for the benchmarks: reference models, timing, and table printing."""
from __future__ import annotations

import os
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


def explainable_inputs(ref: "models.ReferenceModel", n: int):
    """The first ``n`` test inputs; reviews cut to the part the model reads (its window)."""
    from explain.api import as_predictor

    x, _ = ref.test_split(limit=n)
    if ref.spec.dataset != "imdb":
        return x
    predictor = as_predictor(ref)
    return [predictor.join_tokens(predictor.text_view(text).tokens) for text in x]


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


def memory_mib() -> dict[str, float]:
    """Current and peak resident memory of this process, from /proc (Linux).

    Not ``resource.getrusage().ru_maxrss``: Linux carries that over fork and exec,
    so a child process would report its parent's peak.
    """
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                fields[key] = float(value.split()[0]) / 1024  # kB -> MiB
    return {"current": fields["VmRSS"], "peak": fields["VmHWM"]}


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
