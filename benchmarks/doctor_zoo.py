"""The compatibility doctor on every kind of model of the test zoo: which method works, is refused or fails.

    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets \
        .venv/bin/python -m benchmarks.doctor_zoo [--models a,b] [--methods x,y]

``explain.doctor`` runs each registered method once on a probe input (its own,
seeded) with small budgets.  Models come from ``tests/zoo.py`` (tiny, seeded,
untrained), given as a user would: the bare Keras model, or a ``Predictor`` where
the model cannot say what it needs (token ids: the vocabulary; a plain function:
modality, class names, background).  Prints a model x method grid (``ok`` with
seconds, ``refused``, ``FAILED``), then every failure and refusal with its reason.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common import table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def cases() -> dict:
    """name -> a function building what the doctor is given."""
    import zoo as z

    import explain

    return {
        "image_functional": z.image_functional,
        "image_sequential": z.image_sequential,
        "image_nested": z.image_nested,
        "transfer_cnn": z.transfer_cnn,
        "image_logits": z.image_logits,
        "image_binary": z.image_binary,
        "image_regression": z.image_regression,
        "text_model": z.text_model,
        "lstm_text_model": z.lstm_text_model,
        "token_model (tokenizer=vocabulary)": lambda: explain.Predictor(
            z.token_model(), tokenizer=z.corpus_vocabulary(), class_names=["neg", "pos"]),
        "tabular_linear (no background)": z.tabular_linear,
        "tabular_classifier (background)": lambda: explain.Predictor(
            z.tabular_classifier(), background=z.tabular_data(50, seed=3)),
        "tabular_two_column (no background)": z.tabular_two_column,
        "tabular_two_column (background)": lambda: explain.Predictor(
            z.tabular_two_column(), background=z.tabular_data(50, seed=3)),
        "predict_proba_function (Predictor)": lambda: explain.Predictor(
            z.predict_proba_function, modality="tabular", class_names=["no", "yes"],
            background=z.tabular_data(50, seed=3)),
    }


SHORT = {"works": "ok", "refused": "refused", "failed": "FAILED"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated zoo entries (default: all)")
    parser.add_argument("--methods", help="comma-separated methods (default: every registered one)")
    args = parser.parse_args()
    import explain

    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}", flush=True)
    chosen = cases()
    if args.models:
        wanted = [m.strip() for m in args.models.split(",")]
        chosen = {k: v for k, v in chosen.items() if any(k.startswith(w) for w in wanted)}
    grid, problems, summary = [], [], []
    methods: list[str] = []
    for name, build in chosen.items():
        started = time.perf_counter()
        try:
            report = explain.doctor(build(), methods=args.methods)
        except Exception as exc:  # noqa: BLE001 - the doctor itself failing is a result
            print(f"({name}: the doctor itself raised {type(exc).__name__}: {exc})", flush=True)
            grid.append({"model": name, "doctor": f"raised {type(exc).__name__}: {str(exc)[:150]}"})
            continue
        seconds = time.perf_counter() - started
        records = report.to_dict("records")
        methods = methods or [r["method"] for r in records]
        row = {"model": name}
        for r in records:
            cell = SHORT.get(r["status"], r["status"])
            row[r["method"]] = f"{cell} {r['seconds']:.2f}" if r["status"] != "refused" else cell
            if r["status"] != "works":
                problems.append({"model": name, "method": r["method"], "status": r["status"],
                                 "seconds": r["seconds"], "reason": " ".join(str(r["reason"]).split())[:300]})
        grid.append(row)
        counts = {s: sum(r["status"] == s for r in records) for s in ("works", "refused", "failed")}
        described = report.attrs.get("model", {})
        summary.append({"model": name, "modality": described.get("modality"), "output": described.get("output"),
                        **counts, "doctor s": seconds,
                        "warnings": "; ".join(map(str, described.get("warnings") or []))[:200]})
        print(table(summary[-1:]), flush=True)
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {' '.join(f.read().split()[:3])}", flush=True)
    columns = ["model", *methods]
    print(table([{c: r.get(c, r.get("doctor", "")) if c != "model" else r["model"] for c in columns} for r in grid],
                "Doctor verdicts (ok: works, with seconds)"))
    print(table(summary, "Per model"))
    failed = [p for p in problems if p["status"] == "failed"]
    print(table(failed, "Failures") if failed else "\n### Failures\n\nnone")
    print(table([p for p in problems if p["status"] == "refused"], "Refusals and their reasons"))


if __name__ == "__main__":
    main()
