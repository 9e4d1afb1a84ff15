"""Training a reference model from the dashboard: `explain train NAME` in a child process, with progress.

A child process keeps the dashboard responsive for other sessions, writes the
same atomic, verified artifacts the command line writes, and prints Keras'
per-epoch lines, which are all we need to draw a progress bar.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

EPOCH = re.compile(r"^Epoch (\d+)/(\d+)")
FOLD = re.compile(r"cross-validation fold (\d+)/(\d+)")
ROOT = Path(__file__).resolve().parents[2]


def command(name: str, models_dir: Path) -> list[str]:
    """The command line that trains ``name`` into ``models_dir`` (data from ``EXPLAIN_DATA_DIR``)."""
    return [sys.executable, "-m", "explain.cli", "--models-dir", str(models_dir), "train", name]


@dataclass
class Progress:
    """Turns the trainer's output lines into a fraction done.

    Cross-validation folds (housing) and the final fit each count as one phase;
    within the final fit, epochs advance the bar (early stopping may end it sooner).
    """

    folds: int = 0
    fraction: float = 0.0

    def update(self, line: str) -> float:
        phases = self.folds + 1
        if match := FOLD.search(line):
            self.folds = max(self.folds, int(match.group(2)))
            phases = self.folds + 1
            self.fraction = (int(match.group(1)) - 1) / phases
        elif match := EPOCH.search(line):
            epoch, epochs = int(match.group(1)), int(match.group(2))
            self.fraction = (self.folds + (epoch - 1) / epochs) / phases
        return self.fraction


def train(name: str, models_dir: Path, report: Callable[[str, float], None]) -> tuple[bool, str]:
    """Run the training; ``report(line, fraction)`` for each output line.  Returns (success, last lines)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    progress, tail = Progress(), []
    with subprocess.Popen(command(name, models_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, cwd=ROOT, bufsize=1) as child:
        assert child.stdout is not None
        for raw in child.stdout:
            line = raw.rstrip().split("\r")[-1]
            if line:
                tail = (tail + [line])[-8:]
                report(line, progress.update(line))
    return child.returncode == 0, "\n".join(tail)
