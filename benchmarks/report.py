"""Time and size of an explanation report: 20 MNIST test digits, Grad-CAM and LIME, with faithfulness scores.

    python -m benchmarks.report [--inputs 20] [--methods gradcam,lime_image]

Prints one Markdown table: each step's wall time (explaining, scoring, then
assembling the report: every figure rendered once, and writing the PDF and the
HTML from it) and the files' sizes, so the README can quote it as is.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import explainable_inputs, reference, table
from explain import explain_batch, report
from explain.metrics import score_explanations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument("--methods", default="gradcam,lime_image")
    args = parser.parse_args()
    ref = reference("mnist_cnn")
    x, y = ref.test_split(limit=args.inputs)
    methods = args.methods.split(",")
    for method in methods:
        explain_batch(ref, explainable_inputs(ref, 1), method)  # warm: compile, caches, background

    rows, explanations = [], []
    for method in methods:
        started = time.perf_counter()
        explanations += explain_batch(ref, x, method)
        rows.append({"step": f"explain ({method})", "seconds": time.perf_counter() - started, "size": ""})
    started = time.perf_counter()
    explanations = score_explanations(ref, explanations)
    rows.append({"step": "faithfulness scores (deletion)", "seconds": time.perf_counter() - started, "size": ""})

    started = time.perf_counter()
    assembled = report.assemble(explanations, model=ref, true_labels=y.tolist(), title="MNIST digits",
                                inputs_source=f"mnist test split, indices 0-{args.inputs - 1}")
    rows.append({"step": f"assemble ({len(explanations) + args.inputs} figures)", "seconds": time.perf_counter() - started,
                 "size": ""})
    with tempfile.TemporaryDirectory() as folder:
        for kind, write in (("pdf", report.to_pdf), ("html", lambda r: report.to_html(r).encode("utf-8"))):
            started = time.perf_counter()
            path = Path(folder) / f"report.{kind}"
            path.write_bytes(write(assembled))
            size = f"{path.stat().st_size / 1024:,.0f} KiB" + (f", {_pages(path)} pages" if kind == "pdf" else "")
            rows.append({"step": f"write {kind.upper()}", "seconds": time.perf_counter() - started, "size": size})
        started = time.perf_counter()
        report.write_report(Path(folder) / "again.pdf", explanations, model=ref, true_labels=y.tolist())
        total = time.perf_counter() - started
    rows.append({"step": "write_report(.pdf) from scored explanations, end to end", "seconds": total, "size": ""})
    print(table(rows, f"Report of {args.inputs} mnist_cnn inputs explained with {', '.join(methods)}"))


def _pages(path: Path) -> str:
    try:
        from pypdf import PdfReader
    except ImportError:  # a dev dependency
        return "?"
    return str(len(PdfReader(path).pages))


if __name__ == "__main__":
    main()
