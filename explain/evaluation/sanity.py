"""Sanity checks that re-explain: model randomisation (Adebayo et al., 2018) and stability across seeds.

They call the explanation API, so they live apart from the curves and scores
the API itself uses (no import cycle).
"""
from __future__ import annotations

import dataclasses
import itertools
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..api import explain_batch
from ..adapters import as_predictor
from ..explanation import Explanation
from ..methods.base import Method
from ..pipeline import make_method
from ..predictor import Predictor
from .agreement import rank_correlation, topk_agreement


def randomised_model(model: Any, seed: int = 0):
    """A copy of a Keras model whose learned weights are freshly initialised (fixed seed).

    Preprocessing state (Normalization statistics, TextVectorization / lookup
    vocabularies, BatchNorm moving statistics: everything non-trainable) is kept.
    """
    import keras

    original = _keras_model(model)
    clone = keras.models.clone_model(original)
    pairs = _paired_layers(original, clone)
    for src, dst in zip(original.non_trainable_variables, clone.non_trainable_variables):
        dst.assign(src)  # incl. dropout seed states, which layers do not save themselves
    with tempfile.TemporaryDirectory() as tmp:
        for i, (src, dst) in enumerate(pairs):
            store: dict[str, Any] = {}
            src.save_own_variables(store)
            if store:
                dst.load_own_variables(store)
            if hasattr(src, "save_assets"):  # vocabularies live in assets, not in variables
                (folder := Path(tmp) / str(i)).mkdir()
                src.save_assets(str(folder))
                dst.load_assets(str(folder))
    rng = np.random.default_rng(seed)
    for _, layer in pairs:
        for variable in getattr(layer, "_trainable_variables", []):  # own learned weights, frozen or not
            init = _initializer(layer, variable.name, int(rng.integers(2**31 - 1)))
            variable.assign(init(tuple(variable.shape), dtype=variable.dtype))
    return clone


def randomisation_check(model: Any, inputs: Any, method: str | Method, *, targets: Sequence[int | None] | int | None = None,
                        seed: int = 0, **params: Any) -> list[dict[str, float]]:
    """Spearman correlation between attributions of the trained and a weight-randomised model, per input.

    The randomised model explains the same targets as the trained one.  A method
    that passes the check has low ``spearman_abs`` (Adebayo et al. rank absolute
    values); nan when an attribution map is constant.
    """
    predictor = as_predictor(model)
    trained = explain_batch(predictor, inputs, method, targets, **params)
    shuffled = Predictor(
        randomised_model(predictor, seed), modality=predictor.modality, output=predictor.output,
        class_names=predictor.class_names, feature_names=predictor.feature_names, input_shape=predictor.input_shape,
        batch_size=predictor.batch_size, name=f"{predictor.name}_randomised", background=lambda: predictor.background,
    )
    randomised = explain_batch(shuffled, inputs, method, [e.target for e in trained], **params)
    return [rank_correlation(a.attributions, b.attributions) for a, b in zip(trained, randomised)]


def _keras_model(model: Any):
    keras_model = as_predictor(model).keras_model
    if keras_model is None:
        raise ValueError("The randomisation check re-initialises a Keras model's weights; a plain prediction function has none.")
    return keras_model


def _paired_layers(original, clone) -> list[tuple[Any, Any]]:
    a = list(original._flatten_layers(include_self=False, recursive=True))
    b = list(clone._flatten_layers(include_self=False, recursive=True))
    if len(a) != len(b) or any(type(x) is not type(y) for x, y in zip(a, b)):
        raise ValueError(f"keras.models.clone_model changed the layer structure of {original.name!r}; cannot copy its state.")
    return list(zip(a, b))


_INITIALIZER_NAMES = {"recurrent_kernel": "recurrent_initializer", "depthwise_kernel": "depthwise_initializer",
                      "pointwise_kernel": "pointwise_initializer"}


def _initializer(layer: Any, variable_name: str, seed: int):
    """The layer's own initializer for a weight, re-seeded; Glorot uniform when the layer does not say."""
    import keras

    name = variable_name.split("/")[-1].split(":")[0]
    init = getattr(layer, _INITIALIZER_NAMES.get(name, f"{name}_initializer"), None)
    if init is None:
        return keras.initializers.GlorotUniform(seed=seed)
    init = keras.initializers.get(init)
    config = init.get_config()
    if "seed" in config:
        init = type(init).from_config({**config, "seed": seed})
    return init


# ---- stability across seeds -----------------------------------------------------------------
def stability(
    model: Any,
    inputs: Any,
    method: str | Method,
    *,
    n_seeds: int = 5,
    k: int = 5,
    by: str = "abs",
    targets: Sequence[int | None] | int | None = None,
    **params: Any,
) -> list[dict[str, float]]:
    """Mean (and min) pairwise top-k agreement of the explanations made with seeds ``0..n_seeds-1``, per input."""
    if n_seeds < 2:
        raise ValueError(f"stability compares runs: n_seeds must be at least 2, got {n_seeds}.")
    explainer = _seeded(method, 0, params)
    runs = _per_seed(as_predictor(model), inputs, explainer, range(n_seeds), targets)
    results = []
    for per_input in zip(*runs):
        scores = [topk_agreement(a, b, k, by=by) for a, b in itertools.combinations(per_input, 2)]
        results.append({"stability_topk": float(np.mean(scores)), "stability_topk_min": float(np.min(scores))})
    return results


def _seeded(method: str | Method, seed: int, params: dict[str, Any]) -> Method:
    if "seed" in params:
        raise TypeError("stability sets the seed itself (0..n_seeds-1); do not pass seed=.")
    explainer = make_method(method, **params)
    if "seed" not in {f.name for f in dataclasses.fields(explainer)}:
        raise ValueError(f"{explainer.name} has no seed parameter: it is deterministic, so stability across seeds is 1 by construction.")
    return dataclasses.replace(explainer, seed=seed)


def _per_seed(predictor: Any, inputs: Any, explainer: Method, seeds: Iterable[int],
              targets: Sequence[int | None] | int | None) -> list[list[Explanation]]:
    """The inputs explained once per seed; every seed explains the class the first one chose."""
    runs: list[list[Explanation]] = []
    for seed in seeds:
        runs.append(explain_batch(predictor, inputs, dataclasses.replace(explainer, seed=seed), targets))
        targets = [e.target for e in runs[0]]
    return runs


def seed_bootstrap(
    model: Any,
    inputs: Any,
    method: str | Method,
    *,
    n_seeds: int = 10,
    k: int = 5,
    agree: float = 0.8,
    targets: Sequence[int | None] | int | None = None,
    **params: Any,
) -> list[dict[str, float]]:
    """How often a stochastic method's top-k survives a change of seed, per input.

    The reference is the explanation made with the method's own seed (``params``
    or its default); it is re-made with ``n_seeds`` other seeds, and a seed
    counts as stable when its top-k shares at least ``agree`` of the reference's
    (4 of 5 by default).  Gives ``stable_seeds`` (of ``n_seeds``) and the mean
    top-k overlap: "top-5 stable in 9 of 10 seeds".
    """
    if n_seeds < 1:
        raise ValueError(f"seed_bootstrap needs at least one other seed, got n_seeds={n_seeds}.")
    if not 0 < agree <= 1:
        raise ValueError(f"agree is a share of the top-k, in (0, 1]; got {agree}.")
    base_seed = params.pop("seed", None)
    explainer = _seeded(method, 0, params)
    own = int(explainer.seed if base_seed is None else base_seed)  # type: ignore[attr-defined]  # _seeded checked it has one
    reference, *others = _per_seed(as_predictor(model), inputs, explainer, range(own, own + 1 + n_seeds), targets)
    overlaps = np.array([[topk_agreement(r, e, k) for r, e in zip(reference, run)] for run in others])  # (n_seeds, n_inputs)
    return [{"stable_seeds": float(np.sum(column >= agree - 1e-12)), "n_seeds": float(n_seeds),
             "topk_overlap_mean": float(column.mean())} for column in overlaps.T]
