"""``explain compare``: two versions of a model explained on the same inputs, and what changed in their reasons.

Prints the summary (median rank correlation, mean top-k overlap, how much the
importance moved) and the largest importance shifts; ``-o`` also writes an HTML
or PDF report (the report's comparison section) or CSV tables.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .inputs import INPUT_FILES, load_model_and_inputs

OUTPUTS = (".html", ".htm", ".pdf", ".csv")
DEFAULT_LIMIT = 50  # inputs of A's test split compared when neither --inputs nor --limit is given


def add_compare_parser(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser("compare", help="compare the explanations of two versions of a model (drift of reasons)",
                                  description="Explain MODEL_A and MODEL_B on the same inputs with the same methods and "
                                  "targets (A's predicted class), and report how far their explanations agree and which "
                                  "features, tokens or image regions gained or lost importance.")
    compare.add_argument("model_a", metavar="MODEL_A", help="a reference model name or a .keras file (the old version)")
    compare.add_argument("model_b", metavar="MODEL_B", help="a reference model name or a .keras file (the new version)")
    compare.add_argument("--methods", required=True, help="comma-separated methods, e.g. kernel_shap or gradcam,lime_image")
    which = compare.add_mutually_exclusive_group()
    which.add_argument("--inputs", help=f"inputs to compare on: {INPUT_FILES} (default: MODEL_A's test split)")
    which.add_argument("--limit", type=int, help=f"the first N inputs of MODEL_A's test split (default: {DEFAULT_LIMIT})")
    compare.add_argument("-k", "--top-k", type=int, default=5, help="top-k overlap (default: 5)")
    compare.add_argument("--class-names", help="comma-separated names of the models' classes, e.g. negative,positive")
    compare.add_argument("-o", "--output", help="write a report (.html or .pdf) or the tables (.csv; the importance "
                         "table goes beside it as NAME-importance.csv)")
    compare.add_argument("--title", help="the report's title")
    compare.add_argument("--data-dir", help="folder with offline data copies (default: $EXPLAIN_DATA_DIR)")
    compare.add_argument("--store", nargs="?", const=True, metavar="PATH",
                         help="reuse explanations from the explanation store and save new ones (default store, or PATH)")


def compare(args: argparse.Namespace) -> int:
    """Exit 0 after printing the comparison (user errors: 2, from ``explain.cli.main``)."""
    import explain

    output = _check_output(args.output)  # a bad path fails before the slow work
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}.")
    if args.top_k < 1:
        raise ValueError(f"-k/--top-k must be at least 1, got {args.top_k}.")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ValueError("--methods is empty: name at least one method, e.g. --methods kernel_shap.")
    for name in methods:
        explain.get_method(name)  # a typo fails before the models load
    class_names = [c.strip() for c in args.class_names.split(",")] if args.class_names else None
    _progress(f"loading {args.model_a}")
    loaded = load_model_and_inputs(args.model_a, args.inputs, models_dir=args.models_dir, data_dir=args.data_dir,
                                   class_names=class_names)
    _progress(f"loading {args.model_b}")
    model_b = _second_model(args.model_b, loaded.predictor, args.models_dir, class_names)
    limit = len(loaded.x) if args.inputs else (args.limit or DEFAULT_LIMIT)
    x = loaded.x[:limit]
    for name in methods:
        usable = set(explain.available(loaded.predictor)) & set(explain.available(model_b))
        if name not in usable:
            raise ValueError(f"--methods: {name} cannot explain both models; methods for both: {', '.join(sorted(usable))}.")
    _progress(f"explaining {len(x)} inputs with {', '.join(methods)}, on both models")
    result = explain.compare(loaded.predictor, model_b, x, methods, k=args.top_k, store=args.store)
    print(summary_text(result))
    if output is not None:
        path = _write(result, output, args, loaded)
        _progress(f"wrote {path}")
    return 0


def summary_text(result: Any, shifts: int = 10, changed: int = 5) -> str:
    """The summary, the largest importance shifts and the inputs that changed most, as plain text."""
    lines = [f"model A: {result.name_a}", f"model B: {result.name_b}", ""]
    width = max(len(key) for key in result.summary())
    lines += [f"{key:<{width}}  {value:.4g}" for key, value in result.summary().items()]
    top = result.largest_shifts(shifts)[["method", "unit", "importance_a", "importance_b", "shift"]]
    lines += ["", f"largest importance shifts (share of mean |attribution| per {result.unit_name()}):",
              top.to_string(index=False, float_format=lambda v: f"{v:.4f}")]
    most = result.most_changed(changed)[["input", "method", "target", "spearman_abs", "spearman", "top_k"]]
    lines += ["", "inputs whose explanations changed most (input: position in the inputs, from 0):",
              most.to_string(index=False, float_format=lambda v: f"{v:.3f}")]
    return "\n".join(lines)


def _check_output(name: str | None) -> Path | None:
    if name is None:
        return None
    from ..paths import check_writable_file

    path = Path(name)
    if path.suffix.lower() not in OUTPUTS:
        raise ValueError(f"-o {name}: the suffix picks the format; use .html, .pdf or .csv.")
    if path.suffix.lower() == ".csv":
        return check_writable_file(path, "the comparison table", "comparison.csv")
    from .. import report

    report.check_output(path)
    return path


def _second_model(name: str, first: Any, models_dir: str | None, class_names: list[str] | None) -> Any:
    """MODEL_B as a predictor; a .keras file gets MODEL_A's feature names and background, so both are explained alike."""
    import explain
    import models

    if name in models.names():
        return explain.Predictor(models.load(name, models_dir), class_names=class_names)
    if name.endswith(".keras"):
        from models.artifacts import load_keras

        return explain.Predictor(load_keras(Path(name)), class_names=class_names or first.class_names,
                                 feature_names=first.feature_names, background=first.background, name=Path(name).name)
    raise ValueError(f"MODEL_B {name!r} is neither a reference model ({', '.join(models.names())}) nor a .keras file.")


def _write(result: Any, output: Path, args: argparse.Namespace, loaded: Any) -> Path:
    if output.suffix.lower() == ".csv":
        from ..paths import atomic_write

        importance = output.with_name(f"{output.stem}-importance.csv")
        atomic_write(output, result.per_input.to_csv(index=False).encode("utf-8"))
        atomic_write(importance, result.importance.to_csv(index=False).encode("utf-8"))
        _progress(f"wrote {importance}")
        return output
    from .. import report

    title = args.title or f"{result.name_a} against {result.name_b}: {', '.join(result.methods)}"
    source = loaded.source if args.inputs else f"{loaded.source}, the first {result.n_inputs}"
    return report.write_report(output, comparison=result, model=loaded.predictor, card=loaded.card, title=title,
                               inputs_source=source, score=False, progress=_progress)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
