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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the terminal

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError, TypeError)
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
INPUT_FILES = ".npy/.npz arrays, .txt (one text per line) or .csv rows (header optional)"
BACKGROUND_ROWS = 100  # rows of --input a .keras model uses as SHAP background and deletion baseline


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
    report.add_argument("--no-scores", action="store_true", help="skip the faithfulness (deletion) scores")
    report.add_argument("--store", nargs="?", const=True, metavar="PATH",
                        help="reuse explanations from the explanation store and save new ones (default store, or PATH)")


def _report(args: argparse.Namespace) -> int:
    import explain
    from explain import report

    kind = report.check_output(args.output, args.format)  # a bad path fails before the slow work
    _progress(f"loading {args.model}")
    predictor, card, inputs, labels, source = _report_inputs(args)
    methods = _report_methods(args.methods, predictor)
    explanations = []
    for method in methods:
        _progress(f"explaining {len(inputs)} inputs with {method}")
        explanations += explain.explain_batch(predictor, inputs, method, truncate=True, scores=not args.no_scores,
                                              store=args.store)
    title = args.title or f"{predictor.name}: {', '.join(methods)}"
    path = report.write_report(args.output, explanations, format=kind, model=predictor, card=card, true_labels=labels,
                               inputs_source=source, title=title, score=not args.no_scores, progress=_progress)
    _progress(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB)")
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _report_inputs(args: argparse.Namespace):
    """``(predictor, card, inputs, true labels or None, description of the inputs)``."""
    import numpy as np

    import explain
    import models

    class_names = [c.strip() for c in args.class_names.split(",")] if args.class_names else None
    if args.model in models.names():
        ref = models.load(args.model, args.models_dir)
        predictor, card = explain.Predictor(ref, class_names=class_names), ref.card
        if args.input:
            x, y, _ = _read_inputs(args.input)
            source = args.input
        else:
            x, y = ref.test_split(args.data_dir)
            source = f"{ref.card['dataset']['name']} test split"
    elif args.model.endswith(".keras"):
        from models.artifacts import load_keras

        if not args.input:
            raise ValueError(f"Give the inputs to explain with {args.model}: --input FILE ({INPUT_FILES}).")
        x, y, feature_names = _read_inputs(args.input)
        model = load_keras(Path(args.model))
        background = None if isinstance(x, list) else x[:BACKGROUND_ROWS]
        predictor, card = explain.Predictor(model, class_names=class_names, feature_names=feature_names, background=background), None
        source = args.input
    else:
        raise ValueError(f"--model {args.model!r} is neither a reference model ({', '.join(models.names())}) nor a .keras file.")
    rows = _parse_indices(args.indices or ("0-4" if not args.input else f"0-{len(x) - 1}"), len(x))
    inputs = [x[i] for i in rows] if isinstance(x, list) else x[rows]
    labels = None if y is None else np.asarray(y)[rows].tolist()
    return predictor, card, inputs, labels, f"{source}, indices {_compact(rows)}"


def _read_inputs(name: str):
    """``(inputs, labels or None, feature names or None)`` from a file (labels: an .npz's ``y`` / ``y_test``)."""
    import numpy as np

    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"--input {name}: no such file.")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".txt", ".csv"):
        raise ValueError(f"--input {name}: unsupported file type {suffix or '(none)'}; use {INPUT_FILES}.")
    y = names = None
    try:
        if suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.files)
                key = next((k for k in ("x", "x_test") if k in keys), keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise ValueError(f"it holds arrays {keys}; name the inputs 'x' (and their labels 'y')")
                x = archive[key]
                label_key = "y" if key == "x" else "y_test"
                y = archive[label_key] if label_key in keys else None
        elif suffix == ".txt":
            x = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            import pandas as pd

            frame = pd.read_csv(path)
            if all(_is_number(c) for c in frame.columns):  # no header row: the first row is data
                frame = pd.read_csv(path, header=None)
            else:
                names = [str(c) for c in frame.columns]
            x = frame.to_numpy(dtype=np.float32)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read --input {name}: {exc}.") from None
    if len(x) == 0:
        raise ValueError(f"--input {name} holds no inputs.")
    return x, y, names


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _parse_indices(spec: str, n: int) -> list[int]:
    """``"0-19"`` or ``"3,7,9"`` (or both, ``"0-4,10"``) as a list of distinct indices below ``n``."""
    chosen: list[int] = []
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise ValueError(f"--indices {spec!r}: use ranges and lists such as 0-19 or 3,7,9.") from None
        if last < first:
            raise ValueError(f"--indices {spec!r}: the range {part.strip()} runs backwards.")
        chosen += range(first, last + 1)
    out = list(dict.fromkeys(chosen))
    outside = [i for i in out if i >= n]
    if outside:
        raise ValueError(f"--indices {spec!r}: {outside[0]} is out of range; there are {n} inputs (0-{n - 1}).")
    return out


def _compact(rows: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []
    for i in rows:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


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
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}.")
    metrics = [] if args.metrics.strip().lower() == "none" else [m.strip() for m in args.metrics.split(",") if m.strip()]
    check_metrics(metrics)  # typos fail before the slow loading
    for name in filter(None, (m.strip() for m in args.methods.split(","))):
        explain.get_method(name)
    model, x, y = _audit_inputs(args)
    try:
        frame = explain.audit(model, x, y, methods=args.methods, metrics=metrics, top_k=args.top_k, truncate=True,
                              chunk_size=args.chunk_size, store=args.store or True, client=args.scheduler,
                              models_dir=args.models_dir)
    except KeyboardInterrupt:
        print("interrupted; finished chunks are in the explanation store: run the same command again to resume.",
              file=sys.stderr)
        return 130
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".parquet":
        frame.to_parquet(output, index=False)
    else:
        frame.to_csv(output, index=False)
    for name, table in explain.audit_summary(frame).items():
        print(f"\n## {name}\n{table.head(10).to_string(index=False)}")
    _progress(f"\nwrote {len(frame)} rows to {output}")
    return 0


def _audit_inputs(args: argparse.Namespace):
    """``(model, inputs, labels or None)``: a reference model and its split, or a .keras file and --input."""
    import explain
    import models

    if args.model in models.names():
        ref = models.load(args.model, args.models_dir)
        if args.input:
            x, y, _ = _read_inputs(args.input)
        elif args.split == "test":
            x, y = ref.test_split(args.data_dir)
        else:
            data = models.load_dataset(ref.spec.dataset, args.data_dir)
            x, y = data.x_train, data.y_train
        model = ref
    elif args.model.endswith(".keras"):
        from models.artifacts import load_keras

        if not args.input:
            raise ValueError(f"Give the inputs to audit with {args.model}: --input FILE ({INPUT_FILES}).")
        x, y, feature_names = _read_inputs(args.input)
        background = None if isinstance(x, list) else x[:BACKGROUND_ROWS]
        model = explain.Predictor(load_keras(Path(args.model)), feature_names=feature_names, background=background)
    else:
        raise ValueError(f"--model {args.model!r} is neither a reference model ({', '.join(models.names())}) nor a .keras file.")
    limit = args.limit or len(x)
    return model, x[:limit], None if y is None else y[:limit]


COMMANDS["audit"] = _audit


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


if __name__ == "__main__":
    sys.exit(main())
