"""The ``explain`` command line.

Every user mistake (an unknown name, missing data, a corrupt file) ends in a
one-line ``error:`` message and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from ..paths import blocking_file, check_writable_file
from .check import add_check_parser, check
from .inputs import INPUT_FILES, compact, load_model_and_inputs, parse_indices
from .compare import add_compare_parser, compare as _compare
from .sanity import add_sanity_parser, sanity as _sanity
from .serve import add_serve_parser, serve

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the terminal

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError, NotADirectoryError, TypeError)
APP_FILE = Path(__file__).resolve().parent.parent / "app.py"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explain", description="Explain Keras models with LIME, SHAP and CAM.")
    parser.add_argument("--models-dir", help="where trained models live (default: $EXPLAIN_MODELS_DIR or ./artifacts)")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train reference models")
    which = train.add_mutually_exclusive_group(required=True)
    which.add_argument("names", nargs="*", default=[], metavar="NAME", help="reference model(s) to train")
    which.add_argument("--all", action="store_true", help="train all reference models")
    which.add_argument("--missing", action="store_true", help="train only the models that have no artifact yet")
    train.add_argument("--epochs", type=int, help="maximum epochs (default: each model's own)")
    train.add_argument("--data-dir", help="folder with offline data copies (default: $EXPLAIN_DATA_DIR)")
    train.add_argument("--seed", type=int, help="random seed (default: each model's own)")
    train.add_argument("--limit", type=int, help="use only the first N rows of each split (smoke runs)")

    commands.add_parser("models", help="list reference models and their test metrics")

    app = commands.add_parser("app", help="start the Streamlit dashboard")
    app.add_argument("--port", type=int, default=8501)
    _add_report_parser(commands)
    _add_audit_parser(commands)
    _add_doctor_parser(commands)
    add_serve_parser(commands)
    add_compare_parser(commands)
    add_check_parser(commands)
    add_sanity_parser(commands)
    return parser


def _train(args: argparse.Namespace) -> int:
    import models

    if args.all:
        names = models.names()
    elif args.missing:
        names = [n for n in models.names() if not models.is_trained(n, args.models_dir)]
        if not names:
            print("All reference models are trained.")
    else:
        names = args.names
        for name in names:
            models.get_spec(name)  # fail on a typo before any training starts
    for name in names:
        models.train(name, data_dir=args.data_dir, models_dir=args.models_dir, epochs=args.epochs,
                     seed=args.seed, limit=args.limit)
    return 0


def _format_metrics(metrics: dict) -> str:
    parts = []
    for key in ("accuracy", "mae", "rmse", "r2"):
        if key in metrics:
            value = metrics[key]
            parts.append(f"{key} {value:,.0f}" if key in ("mae", "rmse") else f"{key} {value:.4f}")
    return ", ".join(parts)


def _models(args: argparse.Namespace) -> int:
    import models

    cards = models.trained_cards(args.models_dir)
    print(f"{'model':<13} {'status':<11} {'test metrics':<40} gate")
    for name in models.names():
        spec = models.get_spec(name)
        card = cards.get(name)
        if card is None:
            print(f"{name:<13} {'untrained':<11} {'-':<40} {spec.gate}")
        elif isinstance(card, Exception):
            print(f"{name:<13} {'unreadable':<11} {str(card)[:40]:<40} {spec.gate}")
        else:
            verdict = "passed" if card["gate"]["passed"] else "FAILED"
            print(f"{name:<13} {'trained':<11} {_format_metrics(card['metrics']['test']):<40} {spec.gate} ({verdict})")
    return 0


def _app(args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "streamlit", "run", str(APP_FILE), "--server.port", str(args.port),
               "--browser.gatherUsageStats", "false"]  # works offline; sends nothing anywhere
    env = dict(os.environ)
    if args.models_dir:
        env["EXPLAIN_MODELS_DIR"] = args.models_dir
    return subprocess.call(command, env=env)


COMMANDS = {"train": _train, "models": _models, "app": _app}


# ---- explain report ---------------------------------------------------------------------------
REPORT_METHODS = ("gradcam", "lime_image", "lime_text", "kernel_shap", "lime_tabular")  # default: the first two that apply


def _add_report_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="write an HTML or PDF report explaining some predictions",
                                 description="Explain inputs with one or more methods and write a self-contained report.")
    report.add_argument("--model", required=True, help="a reference model name (see `explain models`) or a .keras file")
    report.add_argument("--input", help=f"inputs to explain: {INPUT_FILES} (default: the reference model's test split)")
    report.add_argument("--indices", help="which inputs, e.g. 0-19 or 3,7,9 (default: 0-4 of a test split, every row of --input)")
    report.add_argument("--methods", help=f"comma-separated methods (default: the first two of {','.join(REPORT_METHODS)} that apply)")
    report.add_argument("--class-names", help="comma-separated names of the model's classes, e.g. negative,positive")
    report.add_argument("--format", choices=("html", "pdf"), help="default: from the output file's suffix")
    report.add_argument("-o", "--output", required=True, help="the report file, .html or .pdf")
    report.add_argument("--title", help="the report's title")
    report.add_argument("--data-dir", help="folder with offline data copies (default: $EXPLAIN_DATA_DIR)")
    report.add_argument("--no-scores", action="store_true", help="skip the faithfulness scores (deletion and the badge)")
    report.add_argument("--no-badge", action="store_true",
                        help="skip the faithfulness badge (ROAD and an input-only baseline; seconds per large image)")
    report.add_argument("--store", nargs="?", const=True, metavar="PATH",
                        help="reuse explanations from the explanation store and save new ones (default store, or PATH)")


def _report(args: argparse.Namespace) -> int:
    import numpy as np

    import explain
    from explain import report

    kind = report.check_output(args.output, args.format)  # a bad path fails before the slow work
    _progress(f"loading {args.model}")
    class_names = [c.strip() for c in args.class_names.split(",")] if args.class_names else None
    loaded = load_model_and_inputs(args.model, args.input, models_dir=args.models_dir, data_dir=args.data_dir,
                                   class_names=class_names)
    x, predictor = loaded.x, loaded.predictor
    rows = parse_indices(("0-4" if not args.input else f"0-{len(x) - 1}") if args.indices is None else args.indices, len(x))
    inputs = [x[i] for i in rows] if isinstance(x, list) else x[rows]
    labels = None if loaded.y is None else np.asarray(loaded.y)[rows].tolist()
    methods = _report_methods(args.methods, predictor)
    explanations = []
    for method in methods:
        _progress(f"explaining {len(inputs)} inputs with {method}")
        explanations += explain.explain_batch(predictor, inputs, method, truncate=True, scores=not args.no_scores,
                                              store=args.store)
    title = args.title or f"{predictor.name}: {', '.join(methods)}"
    path = report.write_report(args.output, explanations, format=kind, model=predictor, card=loaded.card,
                               true_labels=labels, inputs_source=f"{loaded.source}, indices {compact(rows)}", title=title, score=not args.no_scores, badge=not args.no_badge,
                               progress=_progress)
    _progress(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB)")
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _report_methods(spec: str | None, predictor) -> list[str]:
    import explain

    usable = explain.available(predictor)
    if spec is None:
        return [m for m in REPORT_METHODS if m in usable][:2] or usable[:1]
    chosen = list(dict.fromkeys(m.strip() for m in spec.split(",") if m.strip()))
    unknown = [m for m in chosen if m not in usable]
    if unknown or not chosen:
        raise ValueError(f"--methods: {', '.join(unknown) or 'none given'} cannot explain {predictor.name}; "
                         f"methods for this model: {', '.join(usable)}.")
    return chosen


COMMANDS["report"] = _report


# ---- explain audit ----------------------------------------------------------------------------
AUDIT_FORMATS = (".parquet", ".csv")


def _add_audit_parser(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="explain, score and summarise many predictions into a .parquet or .csv table",
                                description="Audit a model: one row per input and method (prediction, top features, "
                                "faithfulness). Finished chunks go to the explanation store, so an interrupted audit resumes.")
    audit.add_argument("--model", required=True, help="a reference model name (see `explain models`) or a .keras file")
    audit.add_argument("--input", help=f"inputs: {INPUT_FILES} (default: the reference model's --split)")
    audit.add_argument("--split", choices=("test", "train"), default="test", help="a reference model's data split (default: test)")
    audit.add_argument("--limit", type=int, help="audit only the first N inputs")
    audit.add_argument("--methods", required=True, help="comma-separated methods, e.g. gradcam,lime_text")
    audit.add_argument("--metrics", default="deletion", help="comma-separated: deletion, insertion, additivity, or none (default: deletion)")
    audit.add_argument("-o", "--output", required=True, help="the table, .parquet or .csv")
    audit.add_argument("--store", metavar="PATH", help="the explanation store (default: $EXPLAIN_STORE, else <models dir>/explanations.sqlite)")
    audit.add_argument("--scheduler", metavar="ADDRESS", help="run chunks on this Dask scheduler (default: in this process)")
    audit.add_argument("--chunk-size", type=int, default=256, help="inputs per chunk (default: 256)")
    audit.add_argument("--top-k", type=int, default=5, help="top features / tokens / regions kept per row (default: 5)")
    audit.add_argument("--data-dir", help="folder with offline data copies (default: $EXPLAIN_DATA_DIR)")


def _audit(args: argparse.Namespace) -> int:
    import explain
    from explain.audit import check_metrics

    output = Path(args.output)
    if output.suffix.lower() not in AUDIT_FORMATS:
        raise ValueError(f"-o {args.output}: the suffix picks the format; use one of {', '.join(AUDIT_FORMATS)}.")
    blocking = blocking_file(output)
    if blocking is None and not output.parent.exists():
        output.parent.mkdir(parents=True)
    check_writable_file(output, "the audit table", "audit.parquet")  # before the slow work, not after it
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}.")
    metrics = [] if args.metrics.strip().lower() == "none" else [m.strip() for m in args.metrics.split(",") if m.strip()]
    check_metrics(metrics)  # typos fail before the slow loading
    for name in filter(None, (m.strip() for m in args.methods.split(","))):
        explain.get_method(name)
    loaded = load_model_and_inputs(args.model, args.input, models_dir=args.models_dir, data_dir=args.data_dir,
                                   split=args.split)
    limit = args.limit or len(loaded.x)
    x, y = loaded.x[:limit], None if loaded.y is None else loaded.y[:limit]
    try:
        frame = explain.audit(loaded.model, x, y, methods=args.methods, metrics=metrics, top_k=args.top_k, truncate=True,
                              chunk_size=args.chunk_size, store=args.store or True, client=args.scheduler,
                              models_dir=args.models_dir)
    except KeyboardInterrupt:
        print("interrupted; finished chunks are in the explanation store: run the same command again to resume.",
              file=sys.stderr)
        return 130
    if output.suffix.lower() == ".parquet":
        frame.to_parquet(output, index=False)
    else:
        frame.to_csv(output, index=False)
    for name, table in explain.audit_summary(frame).items():
        print(f"\n## {name}\n{table.head(10).to_string(index=False)}")
    _progress(f"\nwrote {len(frame)} rows to {output}")
    return 0


COMMANDS["audit"] = _audit


# ---- explain doctor ---------------------------------------------------------------------------
def _add_doctor_parser(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser("doctor", help="check which explanation methods work on a model, and why others do not",
                                 description="Read a model, try every method once on one probe input with small "
                                 "budgets, and report what was found: works, refused (with the reason) or failed.")
    doctor.add_argument("model", metavar="MODEL", help="a .keras file (or a reference model name)")
    doctor.add_argument("--example", help=f"an input to probe with, the first of a file: {INPUT_FILES} "
                        "(default: one made from the input shape)")
    doctor.add_argument("--class-names", help="comma-separated names of the model's classes, e.g. negative,positive")
    doctor.add_argument("--methods", help="comma-separated methods to check (default: every method)")


def _doctor(args: argparse.Namespace) -> int:
    """Exit 0 when at least one method works, 1 when none does (user errors: 2, from main)."""
    import explain

    class_names = [c.strip() for c in args.class_names.split(",")] if args.class_names else None
    if args.methods:
        for name in filter(None, (m.strip() for m in args.methods.split(","))):
            explain.get_method(name)  # a typo fails before the model loads
    example = None
    if args.example:  # the same loader as report/audit: safe mode, and the file's rows as background
        loaded = load_model_and_inputs(args.model, args.example, models_dir=args.models_dir, class_names=class_names)
        predictor, example = loaded.predictor, loaded.x[0]
    elif args.model.endswith(".keras"):
        from models.artifacts import load_keras

        predictor = explain.Predictor(load_keras(Path(args.model)), class_names=class_names)
    else:
        import models

        if args.model not in models.names():
            raise ValueError(f"{args.model!r} is neither a .keras file nor a reference model ({', '.join(models.names())}).")
        predictor = explain.Predictor(models.load(args.model, args.models_dir), class_names=class_names)
    _progress(f"checking {predictor.name}")
    table = explain.doctor(predictor, example=example, methods=args.methods)
    for key, value in table.attrs["model"].items():
        print(f"{key + ':':<20} {value}")
    print()
    print(table.to_string(index=False))  # reasons in full: they say what to do
    return 0 if (table["status"] == "works").any() else 1


COMMANDS["doctor"] = _doctor
COMMANDS["serve"] = serve
COMMANDS["compare"] = _compare
COMMANDS["check"] = check
COMMANDS["sanity"] = _sanity


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as exc:
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; previously saved models are unchanged.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug of ours: a short message, the trace in a file
        trace = _write_trace()
        print(f"error: an internal error ({type(exc).__name__}: {str(exc)[:200]}). This is a bug, not your "
              f"input; the full trace is in {trace}: please attach it to a report.", file=sys.stderr)
        return 3


def _write_trace() -> Path:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="explain-error-", suffix=".txt", delete=False) as handle:
        traceback.print_exc(file=handle)
    return Path(handle.name)


if __name__ == "__main__":
    sys.exit(main())
