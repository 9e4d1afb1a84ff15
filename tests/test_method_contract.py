"""One battery of contract checks run over every registered method (scikit-learn habit).

For each method and each tiny model it applies to: attributions are aligned with
the input, the same seed gives the same explanation, single and batched calls
agree, and the JSON round trip returns an equal Explanation.  A new method is
picked up here automatically.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import zoo as z
from explain import registry
from explain.api import explain, explain_batch
from explain.explanation import Explanation
from explain.predictor import Predictor

# Small budgets keep the matrix fast; only parameters a method has are applied.
FAST = {"num_samples": 120, "max_evals": 120, "nsamples": 40, "background_size": 8}
TEXTS = ["a great and wonderful film", "an awful boring movie with awful acting"]


def _cases():
    """(case id, model factory, inputs) for every kind of model in the zoo."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(2, 12, 12)).astype(np.float32)
    rows = z.tabular_data(2, seed=5)
    background = z.tabular_data(30, seed=6)
    return [
        ("image_functional", lambda: Predictor(z.image_functional(), background=images[:1] * 0), images),
        ("image_binary", lambda: Predictor(z.image_binary(), background=np.zeros((1, 12, 12, 1))), images[..., None]),
        ("image_regression", lambda: Predictor(z.image_regression(), background=np.zeros((1, 12, 12, 1))), images[..., None]),
        ("text_model", lambda: Predictor(z.text_model()), TEXTS),
        ("text_function", lambda: Predictor(z.keyword_function, modality="text", class_names=["neg", "pos"]), TEXTS),
        ("tabular_classifier", lambda: Predictor(z.tabular_classifier(), background=background), rows),
        ("tabular_linear", lambda: Predictor(z.tabular_linear(), background=background), rows),
        ("tabular_function", lambda: Predictor(z.linear_function, modality="tabular", background=background), rows),
    ]


CASES = {case_id: (factory, inputs) for case_id, factory, inputs in _cases()}
_PREDICTORS: dict[str, Predictor] = {}


def predictor_for(case_id: str) -> Predictor:
    if case_id not in _PREDICTORS:
        _PREDICTORS[case_id] = CASES[case_id][0]()
    return _PREDICTORS[case_id]


def _matrix():
    pairs = []
    for name in registry.names():
        for case_id in CASES:
            pairs.append(pytest.param(name, case_id, id=f"{name}-{case_id}"))
    return pairs


def fast_params(name: str) -> dict:
    fields = {f.name for f in dataclasses.fields(registry.get(name))}
    return {k: v for k, v in FAST.items() if k in fields}


def applicable(name: str, case_id: str) -> Predictor:
    predictor = predictor_for(case_id)
    reason = registry.get(name).applies_to(predictor)
    if reason is not None:
        pytest.skip(reason)
    return predictor


def expected_shape(predictor: Predictor, x) -> tuple:
    if predictor.modality == "text":
        return (len(predictor.text_view(x).tokens),)
    if predictor.modality == "tabular":
        return (np.shape(x)[-1],)
    return tuple(np.shape(x)[:2])


@pytest.mark.parametrize("name, case_id", _matrix())
def test_contract(name: str, case_id: str) -> None:
    predictor = applicable(name, case_id)
    inputs = CASES[case_id][1]
    params = fast_params(name)
    try:
        batch = explain_batch(predictor, inputs, name, **params)
    except ValueError as exc:  # a method may refuse an architecture, but only with a clear message
        assert len(str(exc)) > 20
        pytest.skip(f"{name} refuses {case_id}: {exc}")
    assert len(batch) == len(inputs)
    for x, e in zip(inputs, batch):
        assert isinstance(e, Explanation) and e.method == name and e.modality == predictor.modality
        assert e.attributions.shape == expected_shape(predictor, x)
        assert np.all(np.isfinite(e.attributions))
        assert e.prediction.shape == (predictor.n_outputs,)
        if predictor.output == "regression":
            assert e.target is None
        else:
            assert e.target == predictor.default_target(e.prediction)
        if predictor.modality == "text":
            assert list(e.data) == list(e.labels) == list(predictor.text_view(x).tokens)
        assert e.meta["seconds"] >= 0 and e.params == registry.get(name)(**params).params()
        # JSON round trip gives an equal Explanation.
        assert Explanation.from_json(e.to_json()) == e

    # The same seed gives the same explanation; a single call agrees with the batched one.
    again = explain_batch(predictor, inputs, name, **params)
    single = explain(predictor, inputs[1], name, **params)
    for first, second in zip(batch, again):
        np.testing.assert_allclose(first.attributions, second.attributions, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(single.attributions, batch[1].attributions, rtol=1e-4, atol=1e-5)
    if batch[1].base_value is not None:
        assert single.base_value == pytest.approx(batch[1].base_value, rel=1e-4, abs=1e-5)
