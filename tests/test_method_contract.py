"""One battery of contract checks run over every registered method (scikit-learn habit).

For each method and each tiny model it applies to: attributions are aligned with
the input, the same seed gives the same explanation, single and batched calls
agree, the JSON round trip and the explanation store return an equal
Explanation, a method that promises additivity (SHAP) or completeness
(Integrated Gradients) keeps it, a stochastic method depends on its seed, and
a speed-only ``batch_size`` does not change the result.  A new method is picked
up here automatically.

A method may refuse a model it declares it applies to only where this file
says so (``REFUSALS``, with the words the message must contain): an
unexpected refusal fails, so a method that refuses everything cannot pass.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import zoo as z
from explain import metrics, registry
from explain.api import explain, explain_batch
from explain.explanation import Explanation
from explain.methods.base import declaration
from explain.predictor import Predictor

# Small budgets keep the matrix fast; only parameters a method has are applied.
FAST = {"num_samples": 120, "max_evals": 120, "nsamples": 40, "background_size": 8, "samples": 6, "steps": 32}
TEXTS = ["a great and wonderful film", "an awful boring movie with awful acting"]
# Additivity (SHAP) or completeness (Integrated Gradients) gap allowed, relative to |score - base|.
ADDITIVITY = {"integrated_gradients": 2e-2, "gradient_shap": 0.5}
DEFAULT_ADDITIVITY = 1e-3

# (method, case) -> words the refusal must contain.  Everything else must work.
REFUSALS = {
    ("cam", "transfer_cnn"): "does not allow plain CAM",  # BatchNorm and ReLU sit between the conv and the pooling
    ("deep_shap", "transfer_cnn"): "no DeepLIFT rule for the TensorFlow operation 'Relu6'",
    ("deep_shap", "tabular_two_column"): "do not add up",  # shap's DeepExplainer on a two-unit softmax head
}


def _cases():
    """(case id, model factory, inputs) for every kind of model in the zoo."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(2, 12, 12)).astype(np.float32)
    colour = rng.integers(0, 256, size=(2, 32, 32, 3)).astype(np.float32)
    rows = z.tabular_data(2, seed=5)
    background = z.tabular_data(30, seed=6)
    zeros = np.zeros((1, 12, 12, 1))
    return [
        ("image_functional", lambda: Predictor(z.image_functional(), background=images[:1] * 0), images),
        ("image_nested", lambda: Predictor(z.image_nested(), background=images[:1] * 0), images),
        ("image_binary", lambda: Predictor(z.image_binary(), background=zeros), images[..., None]),
        ("image_regression", lambda: Predictor(z.image_regression(), background=zeros), images[..., None]),
        ("image_logits", lambda: Predictor(z.image_logits(), background=zeros), images[..., None]),
        ("transfer_cnn", lambda: Predictor(z.transfer_cnn(), background=colour[:1] * 0), colour),
        ("text_model", lambda: Predictor(z.text_model()), TEXTS),
        ("text_lstm", lambda: Predictor(z.lstm_text_model()), TEXTS),
        ("text_transformer", lambda: Predictor(z.transformer_text_model()), TEXTS),
        ("text_token_function", lambda: Predictor(z.token_model(), tokenizer=z.python_tokenizer(z.corpus_vocabulary())), TEXTS),
        ("text_function", lambda: Predictor(z.keyword_function, modality="text", class_names=["neg", "pos"]), TEXTS),
        ("tabular_classifier", lambda: Predictor(z.tabular_classifier(), background=background), rows),
        ("tabular_linear", lambda: Predictor(z.tabular_linear(), background=background), rows),
        ("tabular_two_column", lambda: Predictor(z.tabular_two_column(), background=background), rows),
        ("tabular_function", lambda: Predictor(z.linear_function, modality="tabular", background=background), rows),
        ("tabular_proba_function", lambda: Predictor(z.predict_proba_function, modality="tabular",
                                                     class_names=["neg", "pos"], background=background), rows),
        ("sklearn_pipeline", lambda: Predictor(z.sklearn_pipeline_function(), modality="tabular",
                                               class_names=["neg", "pos"], background=background), rows),
    ]


CASES = {case_id: (factory, inputs) for case_id, factory, inputs in _cases()}
_PREDICTORS: dict[str, Predictor] = {}


def predictor_for(case_id: str) -> Predictor:
    if case_id not in _PREDICTORS:
        _PREDICTORS[case_id] = CASES[case_id][0]()
    return _PREDICTORS[case_id]


def _matrix():
    return [pytest.param(name, case_id, id=f"{name}-{case_id}") for name in registry.names() for case_id in CASES]


def fast_params(name: str) -> dict:
    fields = {f.name for f in dataclasses.fields(registry.get(name))}
    return {k: v for k, v in FAST.items() if k in fields}


def expected_shape(predictor: Predictor, x) -> tuple:
    if predictor.modality == "text":
        return (len(predictor.text_view(x).tokens),)
    if predictor.modality == "tabular":
        return (np.shape(x)[-1],)
    return tuple(np.shape(x)[:2])


def _explain_or_refuse(name: str, case_id: str, predictor: Predictor, inputs, params: dict):
    expected = REFUSALS.get((name, case_id))
    if expected is None:
        return explain_batch(predictor, inputs, name, **params)
    with pytest.raises(ValueError, match=expected) as refused:
        explain_batch(predictor, inputs, name, **params)
    assert len(str(refused.value)) > 40  # says why and what to do
    return None


@pytest.mark.parametrize("name, case_id", _matrix())
def test_contract(name: str, case_id: str, tmp_path) -> None:
    predictor = predictor_for(case_id)
    reason = registry.get(name).applies_to(predictor)
    if reason is not None:  # declared, so available() does not offer it: checked in test_available_matches_applies_to
        assert name not in registry.available(predictor)
        return
    inputs = CASES[case_id][1]
    params = fast_params(name)
    batch = _explain_or_refuse(name, case_id, predictor, inputs, params)
    if batch is None:
        return
    assert len(batch) == len(inputs)
    for x, e in zip(inputs, batch):
        _check_one(name, predictor, x, e, params)
    again = explain_batch(predictor, inputs, name, **params)
    single = explain(predictor, inputs[1], name, **params)
    for first, second in zip(batch, again):
        np.testing.assert_allclose(first.attributions, second.attributions, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(single.attributions, batch[1].attributions, rtol=1e-4, atol=1e-5)
    if batch[1].base_value is not None:
        assert single.base_value == pytest.approx(batch[1].base_value, rel=1e-4, abs=1e-5)
    _check_declarations(name, predictor, inputs, params, batch)
    _check_store(name, predictor, inputs, params, batch, tmp_path / "store.sqlite")


def _check_store(name: str, predictor: Predictor, inputs, params: dict, batch: list[Explanation], path) -> None:
    """A stored explanation comes back equal; a plain function without a version is refused, not mis-keyed."""
    if predictor.keras_model is None:
        with pytest.raises(ValueError, match="fingerprint"):
            explain_batch(predictor, inputs, name, store=path, **params)
        return
    stored = explain_batch(predictor, inputs, name, store=path, **params)
    assert explain_batch(predictor, inputs, name, store=path, **params) == stored
    np.testing.assert_allclose(stored[0].attributions, batch[0].attributions, rtol=1e-5, atol=1e-6)


def _check_one(name: str, predictor: Predictor, x, e: Explanation, params: dict) -> None:
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
    assert Explanation.from_json(e.to_json()) == e


def _check_declarations(name: str, predictor: Predictor, inputs, params: dict, batch: list[Explanation]) -> None:
    """What a method declares (additive, stochastic, speed-only parameters) holds on this model."""
    cls = registry.get(name)
    if cls.additive:
        for e in batch:
            gap = metrics.additivity(predictor, e)
            change = abs(e.meta.get("score_value", gap["additivity_error"]) - e.base_value) if "score_value" in e.meta else 1
            assert gap["additivity_error"] <= ADDITIVITY.get(name, DEFAULT_ADDITIVITY) * max(1.0, change), gap
    fields = {f.name for f in dataclasses.fields(cls)}
    if "batch_size" in fields and not declaration(cls, "batch_size")["changes_result"]:
        small = explain_batch(predictor, inputs, name, **{**params, "batch_size": 1})
        for a, b in zip(batch, small):
            np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in registry.names() if registry.get(n).stochastic])
def test_stochastic_methods_depend_on_their_seed(name: str) -> None:
    """On some model (a linear one may not show it: its gradients or exact enumeration ignore noise)."""
    assert "seed" in {f.name for f in dataclasses.fields(registry.get(name))}
    for case, (_, inputs) in CASES.items():
        predictor = predictor_for(case)
        if registry.get(name).applies_to(predictor) is not None or (name, case) in REFUSALS:
            continue
        params = {**fast_params(name), **({"nsamples": 10} if "nsamples" in fast_params(name) else {})}  # below 2^4: sampled
        first = explain_batch(predictor, inputs, name, **{**params, "seed": 0})
        other = explain_batch(predictor, inputs, name, **{**params, "seed": 1})
        if any(not np.allclose(a.attributions, b.attributions) for a, b in zip(first, other)):
            return
    pytest.fail(f"{name} gave the same attributions for seeds 0 and 1 on every zoo model")


def test_every_method_works_on_a_model_it_claims() -> None:
    """A method that applies nowhere, or is refused everywhere it applies, is broken."""
    for name in registry.names():
        works = [case for case in CASES
                 if registry.get(name).applies_to(predictor_for(case)) is None and (name, case) not in REFUSALS]
        assert works, f"{name} works on none of the zoo models"


def test_available_matches_applies_to() -> None:
    for case in CASES:
        predictor = predictor_for(case)
        assert registry.available(predictor) == [n for n in registry.names() if registry.get(n).applies_to(predictor) is None]
