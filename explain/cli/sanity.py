"""``explain sanity NAME``: the model-randomisation check of a reference model, one table row per method.

Results are stored beside the model card (``<name>.sanity-<method>.json``) and reused while the card names
the same model file, so a second run prints at once; ``--force`` recomputes.  Exit 0 when every method ran
(whatever the verdicts: this is a report, ``explain check`` is the gate); user mistakes exit 2 from ``main``.
"""
from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

DEFAULT_METHODS = ("gradcam", "saliency", "integrated_gradients", "gradient_x_input")  # Adebayo et al.'s own, ~1 s each
COLUMNS = f"{'method':<22} {'n':>4} {'median':>7} {'quartiles':>14} {'<=thr':>6}  {'verdict':<13} {'seconds':>7}  result"


def add_sanity_parser(commands: argparse._SubParsersAction) -> None:
    sanity = commands.add_parser(
        "sanity", help="model-randomisation check: do a method's maps change when the weights are re-drawn?",
        description="Explain a fixed sample of test inputs with the trained model and with a copy whose learned "
        "weights are re-drawn at random (Adebayo et al., 2018), and summarise the rank correlation of the maps "
        "per method. Results are stored beside the model card and reused.")
    sanity.add_argument("name", metavar="NAME", help="a trained reference model (see `explain models`)")
    sanity.add_argument("--methods", help=f"comma-separated methods (default: those of {','.join(DEFAULT_METHODS)} "
                        "that apply)")
    sanity.add_argument("--n", type=int, default=16, help="test inputs to check (default: 16)")
    sanity.add_argument("--force", action="store_true", help="recompute even when a stored result is valid")
    sanity.add_argument("--seed", type=int, default=0, help="seed of the randomised weights (default: 0)")
    sanity.add_argument("--data-dir", help="folder with offline data copies (default: $EXPLAIN_DATA_DIR)")


def sanity(args: argparse.Namespace) -> int:
    """Print one row per method as it finishes; a bad name, method or n raises (exit 2 from ``main``).

    When every method asked for is stored for the model file the card names, the model is not even loaded
    (that is most of a run's 20-odd seconds), so printing stored results takes about a second.
    """
    import models
    from explain.evaluation import model_sanity
    from models import settings
    from models.artifacts import read_card

    model_sanity.check_n(args.n)
    chosen = _chosen(args.methods)
    models.get_spec(args.name)  # an unknown name fails first
    folder = settings.models_dir(args.models_dir)
    sha = read_card(folder, args.name)["model_file"]["sha256"]  # untrained or unreadable: a one-line error
    ready = {} if args.force else _all_stored(folder, args, chosen or list(DEFAULT_METHODS), sha)
    reference = None if ready else models.load(args.name, args.models_dir)
    methods = list(ready) if ready else _methods(args.name, chosen, reference)
    pool = None if reference is None else functools.cache(lambda r=reference: r.test_split(args.data_dir)[0])  # once
    print(f"{args.name}: spearman_abs of the trained vs the randomised model's maps (median, quartiles, share at "
          f"or below {model_sanity.THRESHOLD})")
    print(COLUMNS)
    for method in methods:
        if ready:
            outcome = model_sanity.Outcome(ready[method], computed=False)
        else:
            outcome = model_sanity.ensure(folder, args.name, method, args.n, reference=reference, pool=pool,
                                          force=args.force, seed=args.seed)
        if outcome.ignored:
            print(f"note: {method}: the stored result was not used ({outcome.ignored}); recomputed.", file=sys.stderr)
        print(row(method, outcome.result, "computed" if outcome.computed else "stored"), flush=True)
    print(f"\n{model_sanity.HOW_TO_READ}")
    return 0


def _chosen(spec: str | None) -> list[str] | None:
    """The methods named by ``--methods`` (each checked: a typo fails before the model loads), or None."""
    import explain

    if spec is None:
        return None
    chosen = list(dict.fromkeys(m.strip() for m in spec.split(",") if m.strip()))
    if not chosen:
        raise ValueError("--methods is empty: give method names such as gradcam,saliency, or leave it out.")
    for method in chosen:
        explain.get_method(method)
    return chosen


def _all_stored(folder: Any, args: argparse.Namespace, methods: list[str], sha: str) -> dict[str, dict[str, Any]]:
    """Every method's stored result, or {} as soon as one is missing (then the model is needed)."""
    from explain.evaluation import model_sanity

    found: dict[str, dict[str, Any]] = {}
    for method in methods:
        result = model_sanity.lookup(folder, args.name, method, model_sha256=sha, n=args.n, seed=args.seed).result
        if result is None:
            return {}
        found[method] = result
    return found


def _methods(name: str, chosen: list[str] | None, reference: Any) -> list[str]:
    """The methods to check: those asked for, each of which must apply, or the defaults that apply."""
    import explain

    usable = explain.available(reference)
    methods = chosen or [m for m in DEFAULT_METHODS if m in usable]
    unusable = [m for m in methods if m not in usable]
    if unusable or not methods:
        raise ValueError(f"{', '.join(unusable) or 'none of the default methods'} cannot explain {name}; "
                         f"methods for this model: {', '.join(usable)}.")
    return methods


def row(method: str, result: dict[str, Any], origin: str) -> str:
    """One table line: numbers with two decimals, '-' where the check had none (inconclusive)."""
    s = result["summary"]

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}"

    quartiles = "-" if s["q1"] is None else f"[{s['q1']:.2f}, {s['q3']:.2f}]"
    share = "-" if s["share_at_or_below"] is None else f"{s['share_at_or_below']:.0%}"
    return (f"{method:<22} {s['n']:>4} {fmt(s['median']):>7} {quartiles:>14} {share:>6}  {s['verdict']:<13} "
            f"{result['seconds']:>7.1f}  {origin}")
