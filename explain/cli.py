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
