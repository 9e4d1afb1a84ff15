"""``explain check SPEC.yaml``: gate a model in CI on why it decides, with the checks of :mod:`explain.testing`.

The spec is read with ``yaml.safe_load`` semantics (no Python objects, no anchors or aliases) and validated
whole before the model loads, so a typo costs a second, not a model load.  Exit status: 0 every check passed,
1 some check failed, 2 a bad spec (from ``main``: one ``error:`` line saying what to fix).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from typing import Any

from .check_spec import Check, SpecError, read_spec
from .inputs import load_model_and_inputs, parse_indices

HELP = """\
SPEC.yaml names a model, its inputs and a list of checks, e.g.

  model: mnist_cnn                     # a reference model, or path/to/model.keras
  inputs: {split: test, limit: 50}     # or {file: rows.csv} (paths are relative to the spec)
  store: true                          # optional: reuse the explanation store
  checks:
    - name: Grad-CAM looks at the digit
      kind: mass_inside                # mass_inside | never_in_top_k | methods_agree | faithful
      method: gradcam
      region: {bounding_box: {above: 0, margin: 1}}   # or {box: [t, l, b, r]}, {mask: m.npy}, {tokens: [...]}, {features: [...]}
      at_least: 0.6
      pass_rate: 0.9                   # optional: share of inputs that must pass (default 1)
"""


def add_check_parser(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser("check", help="run explanation checks from a YAML spec (exit 1 when one fails)",
                                description="Gate a model on why it decides: attribution mass inside a region, "
                                "protected features never in the top k, methods that agree, faithfulness badges.",
                                epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("spec", metavar="SPEC.yaml", help="the checks to run")
    check.add_argument("--data-dir", help="folder with offline data copies (default: $EXPLAIN_DATA_DIR)")
    check.add_argument("--store", nargs="?", const=True, metavar="PATH",
                       help="use the explanation store (default store, or PATH); overrides the spec's store")


def check(args: argparse.Namespace) -> int:
    """Exit 0 when every check passes, 1 when one fails; a bad spec raises a SpecError (exit 2 from main)."""
    import numpy as np

    import explain
    from explain import testing

    spec = read_spec(args.spec)
    started = time.perf_counter()
    print(f"loading {spec.model}", file=sys.stderr, flush=True)
    loaded = load_model_and_inputs(spec.model, spec.file, models_dir=args.models_dir, data_dir=args.data_dir,
                                   split=spec.split, class_names=spec.class_names)
    x, y = loaded.x, loaded.y
    ids = list(range(len(x)))
    if spec.indices is not None:
        ids = parse_indices(spec.indices, len(x)) if isinstance(spec.indices, str) else _checked_indices(spec.indices, len(x))
    if spec.limit is not None:
        ids = ids[:spec.limit]
    inputs = [x[i] for i in ids] if isinstance(x, list) else x[ids]
    labels = None if y is None else np.asarray(y)[ids]
    usable = explain.available(loaded.predictor)
    for c in spec.checks:  # every method must apply before the first is computed
        for method in _methods(c):
            if method not in usable:
                raise SpecError(f"{c.name}: method {method!r} cannot explain {loaded.predictor.name}; methods for this "
                                f"model: {', '.join(usable)}.")
        if c.targets == "label" and labels is None:
            raise SpecError(f"{c.name}: targets: label needs labels, and {loaded.source} has none; use targets: predicted.")
    store = args.store if args.store is not None else spec.store
    passed = 0
    for c in spec.checks:
        print(f"running {c.name}", file=sys.stderr, flush=True)
        began = time.perf_counter()
        targets = [int(v) for v in labels] if c.targets == "label" and labels is not None else c.targets
        result = _run(testing, c, loaded.predictor, inputs, targets, store, spec.truncate)
        result = replace(result, ids=tuple(ids), name=c.name)
        print(f"{result.summary()} [{time.perf_counter() - began:.1f} s]", *("  " + line for line in result.failure_lines()),
              sep="\n", flush=True)
        passed += result.passed
    print(f"{passed} of {len(spec.checks)} checks passed on {len(ids)} inputs of {loaded.source} "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    return 0 if passed == len(spec.checks) else 1


def _run(testing: Any, c: Check, model: Any, inputs: Any, targets: Any, store: Any, truncate: bool) -> Any:
    f = c.fields
    common = {"targets": targets, "store": store, "truncate": truncate, "pass_rate": c.pass_rate}
    if c.kind == "mass_inside":
        return testing.check_mass_inside(model, inputs, f["method"], f["region"], at_least=f["at_least"],
                                         by=f.get("by", "positive"), **common, **f.get("params", {}))
    if c.kind == "never_in_top_k":
        return testing.check_never_in_top_k(model, inputs, f["method"], f["features"], k=f["k"], **common,
                                            **f.get("params", {}))
    if c.kind == "methods_agree":
        a, b = f["methods"]
        params = f.get("params", {})
        return testing.check_methods_agree(model, inputs, a, b, at_least=f["at_least"], metric=f.get("metric", "spearman_abs"),
                                           k=f.get("k", 5), params_a=params.get(a, {}), params_b=params.get(b, {}), **common)
    return testing.check_faithful(model, inputs, f["method"], at_least=f.get("at_least", testing.BEATS_RANDOM),
                                  badge_options=f.get("options", {}), **common, **f.get("params", {}))


def _methods(c: Check) -> list[str]:
    return list(c.fields["methods"]) if c.kind == "methods_agree" else [c.fields["method"]]


def _checked_indices(values: list[int], n: int) -> list[int]:
    outside = [i for i in values if i >= n]
    if outside:
        raise SpecError(f"inputs.indices: {outside[0]} is out of range; there are {n} inputs (0-{n - 1}).")
    return list(dict.fromkeys(values))
