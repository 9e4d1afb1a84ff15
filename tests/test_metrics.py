"""Metrics score hand-made explanations whose right answers are known, on the tiny zoo models."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import pytest

import zoo as Z
from explain import explain_batch
from explain import metrics as M
from explain.evaluation import curves as curves_module
from explain.explanation import Explanation
from explain.methods.base import Attribution, Method
from explain.predictor import MASK_TOKEN, Predictor

REGION = np.zeros(Z.IMAGE_SHAPE)
REGION[2:5, 2:5] = 1.0


def explanation(predictor: Predictor, data, attributions, target, *, base_value=None, labels=None, meta=None) -> Explanation:
    """An Explanation as the API would assemble it, with hand-made attributions."""
    model_input = [Predictor.join_tokens(data)] if predictor.modality == "text" else np.asarray(data, np.float32)[None]
    return Explanation(
        method="hand", modality=predictor.modality, target=target,
        attributions=np.asarray(attributions, dtype=np.float64), data=data, labels=labels,
        prediction=predictor.predict(model_input)[0], base_value=base_value, params={}, meta=meta or {},
    )


# ---- tiny local methods (instances, so nothing is added to the global registry) -------------------------
@dataclass
class Occlusion(Method):
    """Score drop when each pixel / feature is zeroed: depends on the model, one batched predict per input."""

    name = "test_occlusion"
    modalities = ("image", "tabular")

    def attribute(self, predictor, inputs, targets):
        results = []
        for x, target in zip(inputs, targets):
            n = int(np.prod(x.shape[:2])) if x.ndim > 1 else x.size
            batch = np.repeat(x[None], n + 1, axis=0).reshape(n + 1, n, -1)
            batch[np.arange(1, n + 1), np.arange(n)] = 0.0
            scores = predictor.score(batch.reshape((n + 1,) + x.shape), target)
            results.append(Attribution(attributions=(scores[0] - scores[1:]).reshape(x.shape[:2] if x.ndim > 1 else x.shape)))
        return results


@dataclass
class InputItself(Method):
    """Attributions = the input (an 'edge detector' that ignores the model): fails the randomisation check."""

    name = "test_input_itself"
    modalities = ("image", "tabular")
    seed: int = 0  # accepted and ignored: deterministic

    def attribute(self, predictor, inputs, targets):
        return [Attribution(attributions=x.reshape(x.shape[:2]) if x.ndim > 1 else x.copy()) for x in inputs]


@dataclass
class Noise(Method):
    name = "test_noise"
    modalities = ("image", "tabular")
    seed: int = 0

    def attribute(self, predictor, inputs, targets):
        rng = np.random.default_rng(self.seed)
        return [Attribution(attributions=rng.normal(size=x.shape[:2] if x.ndim > 1 else x.shape)) for x in inputs]


@pytest.fixture(scope="module")
def hot(zoo):
    predictor = Predictor(zoo["hot_region"], batch_size=4096)
    return predictor, Z.hot_region_image()


@pytest.fixture(scope="module")
def background():
    return Z.tabular_data(200, seed=3)


# ---- deletion and insertion --------------------------------------------------------------------------
def test_perfect_attribution_beats_random_and_reversed_one_loses(hot) -> None:
    predictor, image = hot
    good = M.curves(predictor, [explanation(predictor, image, REGION, 1)])[0]
    bad = M.curves(predictor, [explanation(predictor, image, -REGION, 1)])[0]
    assert good["deletion"].auc < good["deletion"].random_auc and good["deletion"].gain > 0.3
    assert bad["deletion"].auc > bad["deletion"].random_auc and bad["deletion"].gain < 0
    assert good["insertion"].auc > good["insertion"].random_auc and good["insertion"].gain > 0
    assert bad["insertion"].auc < bad["insertion"].random_auc and bad["insertion"].gain < -0.3
    # Same input, same seed: the random baseline does not depend on the explanation.
    assert good["deletion"].random_auc == bad["deletion"].random_auc
    curve = good["deletion"]
    assert curve.fractions[0] == 0 and curve.fractions[-1] == 1 and len(curve.fractions) == 21
    assert curve.scores[0] == pytest.approx(predictor.score(image[None], 1)[0])
    assert curve.scores[-1] == pytest.approx(0.5)  # all black: both region scores 0
    # Step 2 removes round(14.4) = 14 pixels: the 9 of the region, then 5 tied zeros in index order.
    rest_logit = 10 * 0.1 * (135 - 5) / 135
    assert curve.scores[2] == pytest.approx(1 / (1 + np.exp(rest_logit)), abs=1e-5)


def test_random_baseline_is_seeded(hot) -> None:
    predictor, image = hot
    e = explanation(predictor, image, REGION, 1)
    a, b = M.deletion(predictor, e, seed=0), M.deletion(predictor, e, seed=0)
    c = M.deletion(predictor, e, seed=1, n_random=3)
    assert a.random_auc == b.random_auc and np.array_equal(a.random_scores, b.random_scores)
    assert c.random_auc != a.random_auc and c.random_scores.shape == (3, 21)


def test_one_predict_call_per_explanation_and_per_batch(hot) -> None:
    predictor, image = hot
    e = explanation(predictor, image, REGION, 1)
    before = predictor.calls
    M.deletion(predictor, e)
    assert predictor.calls == before + 1
    batch = [e, e, explanation(predictor, image, -REGION, 0)]
    before = predictor.calls
    M.score_explanations(predictor, batch, metrics=["deletion", "insertion"])
    assert predictor.calls == before + 1


def test_large_batches_are_scored_in_groups_with_the_same_results(hot, monkeypatch) -> None:
    predictor, image = hot
    batch = [explanation(predictor, image, a, t) for a, t in ((REGION, 1), (-REGION, 1), (REGION, 0))]
    together = M.curves(predictor, batch)
    monkeypatch.setattr(curves_module, "MAX_INPUTS_PER_CALL", 1)  # every explanation fills a group
    before = predictor.calls
    grouped = M.curves(predictor, batch)
    assert predictor.calls == before + 3
    for a, b in zip(together, grouped):  # equal up to float32 rounding: the CPU kernels depend on the batch size
        for kind in M.CURVES:
            np.testing.assert_allclose(a[kind].scores, b[kind].scores, rtol=1e-5, atol=1e-7)
            assert a[kind].random_auc == pytest.approx(b[kind].random_auc, rel=1e-5)


def test_exact_deletion_curve_on_a_linear_model(zoo, background) -> None:
    predictor = Predictor(zoo["tabular_linear"], background=background)
    x = np.array([1.0, 2.0, -1.0, 3.0], dtype=np.float32)
    mean = background.mean(axis=0)
    phi = Z.LINEAR_WEIGHTS * (x - mean)
    curve = M.deletion(predictor, explanation(predictor, x, phi, None))
    # Removing feature i (to the background mean) lowers the output by exactly phi_i, largest first.
    expected = predictor.score(x[None], None)[0] - np.concatenate([[0.0], np.cumsum(np.sort(phi)[::-1])])
    assert np.allclose(curve.scores, expected, atol=1e-5)
    assert np.allclose(curve.fractions, np.linspace(0, 1, 5))  # every feature, one at a time
    assert curve.empty_score == pytest.approx(float(mean @ Z.LINEAR_WEIGHTS + Z.LINEAR_BIAS), abs=1e-5)
    assert curve.gain > 0 and M.deletion(predictor, explanation(predictor, x, -phi, None)).gain < 0
    insertion = M.insertion(predictor, explanation(predictor, x, phi, None))
    assert insertion.gain > 0 and insertion.scores[0] == pytest.approx(curve.empty_score)


def test_tabular_baseline_needs_background_or_baseline(zoo, background) -> None:
    bare = Predictor(zoo["tabular_linear"])
    x = np.ones(4, dtype=np.float32)
    e = explanation(bare, x, Z.LINEAR_WEIGHTS, None)
    with pytest.raises(ValueError, match=r"background=.*baseline="):
        M.deletion(bare, e)
    curve = M.deletion(bare, e, baseline=np.full(4, 2.0))
    assert curve.empty_score == pytest.approx(2.0 * Z.LINEAR_WEIGHTS.sum() + Z.LINEAR_BIAS, abs=1e-5)


def test_segment_deletion_removes_whole_segments_ordered_by_weight() -> None:
    seen = []

    def brightness(batch):  # records what the metric feeds the model
        seen.append(np.array(batch))
        return np.asarray(batch, dtype=np.float64).reshape(len(batch), -1).mean(axis=1, keepdims=True)

    predictor = Predictor(brightness, modality="image", input_shape=(12, 12, 1), class_names=["dark", "bright"])
    segments = np.zeros(Z.IMAGE_SHAPE, dtype=int)
    segments[:6, 6:] = 7
    segments[6:] = 3  # ids 0 (36 px), 7 (36 px), 3 (72 px)
    weights = {0: 0.2, 7: 0.9, 3: 0.2}  # a tie between 0 and 3: broken by segment id
    attributions = np.vectorize(weights.get)(segments).astype(float)
    image = np.ones((12, 12, 1), dtype=np.float32)
    e = explanation(predictor, image, attributions, 1, meta={"segments": segments})
    seen.clear()
    curve = M.deletion(predictor, e, n_random=2)
    assert len(seen) == 1
    for perturbed in seen[0]:
        for sid in (0, 3, 7):
            values = np.unique(perturbed[..., 0][segments == sid])
            assert len(values) == 1  # a segment is removed whole, or not at all
    # Order 7 (0.9), then 0, then 3; the x-axis is the fraction of pixels removed.
    assert np.allclose(curve.fractions, [0, 0.25, 0.5, 1.0])
    assert np.allclose(curve.scores, 1 - curve.fractions)
    assert M.deletion(predictor, e).auc == curve.auc  # deterministic, ties included


def test_text_deletion_masks_tokens_in_place() -> None:
    seen = []

    def keywords(texts):  # Predictor hands plain functions a tf string tensor: decode it (see report)
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in np.asarray(texts).ravel().tolist()]
        seen.extend(texts)
        return Z.keyword_function(texts)

    predictor = Predictor(keywords, modality="text", class_names=["negative", "positive"])
    tokens = "great film and great acting but awful plot".split()
    good = np.array([1.0 if t == "great" else -1.0 if t == "awful" else 0.0 for t in tokens])
    e = explanation(predictor, tokens, good, 1, labels=tuple(tokens))
    seen.clear()
    curve = M.deletion(predictor, e)
    assert len(curve.fractions) == len(tokens) + 1  # 20 steps capped at 8 tokens
    for text in seen:
        words = text.split()
        assert len(words) == len(tokens) and all(w in (t, MASK_TOKEN) for w, t in zip(words, tokens))
    assert curve.gain > 0 and curve.scores[2] == pytest.approx(Z.keyword_function(["awful"])[0, 0])
    assert M.deletion(predictor, explanation(predictor, tokens, -good, 1, labels=tuple(tokens))).gain < 0
    assert M.insertion(predictor, e).gain > 0
    with pytest.raises(ValueError, match="MASK_TOKEN"):
        M.deletion(predictor, e, baseline=0.0)


def test_modality_mismatch_is_an_error(hot, zoo) -> None:
    predictor, image = hot
    e = explanation(predictor, image, REGION, 1)
    with pytest.raises(ValueError, match="image explanation cannot be scored on a tabular model"):
        M.deletion(Predictor(zoo["tabular_linear"], background=np.zeros((2, 4))), e)


# ---- additivity and score_explanations -----------------------------------------------------------------
def test_additivity_exact_for_linear_shap_and_violated_when_perturbed(zoo, background) -> None:
    predictor = Predictor(zoo["tabular_linear"], background=background)
    x = np.array([0.5, -1.0, 2.0, 1.0], dtype=np.float32)
    mean = background.mean(axis=0)
    phi = Z.LINEAR_WEIGHTS * (x - mean)
    base = float(mean @ Z.LINEAR_WEIGHTS + Z.LINEAR_BIAS)
    exact = M.additivity(predictor, explanation(predictor, x, phi, None, base_value=base))
    assert exact["additivity_error"] < 1e-5 and exact["additivity_relative"] < 1e-5
    broken = M.additivity(predictor, explanation(predictor, x, phi + [0.5, 0, 0, 0], None, base_value=base))
    assert broken["additivity_error"] == pytest.approx(0.5, abs=1e-5) and broken["additivity_relative"] > 0.05
    with pytest.raises(ValueError, match="no base_value"):
        M.additivity(predictor, explanation(predictor, x, phi, None))


def test_score_explanations_attaches_json_friendly_floats(zoo, background) -> None:
    predictor = Predictor(zoo["tabular_linear"], background=background)
    x = np.array([0.5, -1.0, 2.0, 1.0], dtype=np.float32)
    phi = Z.LINEAR_WEIGHTS * (x - background.mean(axis=0))
    with_base = dataclasses.replace(explanation(predictor, x, phi, None, base_value=0.0), method="exact_shap")
    lime_like = dataclasses.replace(with_base, method="lime_tabular")  # an intercept, not a SHAP base value
    [scored, plain, lime] = M.score_explanations(predictor, [with_base, explanation(predictor, x, phi, None), lime_like])
    assert {"deletion_auc", "deletion_random_auc", "deletion_gain", "additivity_error"} <= set(scored.scores)
    assert "additivity_error" not in plain.scores and "insertion_auc" not in plain.scores
    assert "additivity_error" not in lime.scores and "deletion_gain" in lime.scores
    [asked] = M.score_explanations(predictor, [lime_like], metrics=["additivity"])
    assert "additivity_error" in asked.scores  # computed when asked for explicitly
    assert all(type(v) is float for v in scored.scores.values())
    assert json.loads(scored.to_json())["scores"]["deletion_gain"] == scored.scores["deletion_gain"]
    [only] = M.score_explanations(predictor, [with_base], metrics=["insertion"])
    assert set(only.scores) == {k for k in only.scores if k.startswith("insertion_")} and "insertion_gain" in only.scores
    with pytest.raises(ValueError, match="known metrics"):
        M.score_explanations(predictor, [with_base], metrics=["fidelity"])


def test_explain_batch_scores_true_uses_the_metrics(zoo, background) -> None:
    predictor = Predictor(zoo["tabular_linear"], background=background)
    rows = Z.tabular_data(2, seed=5)
    scored = explain_batch(predictor, rows, Occlusion(), scores=True)
    assert all("deletion_gain" in e.scores for e in scored)
    # Occlusion of a linear model (to 0, near the mean) is close to its SHAP values: clearly better than random.
    assert all(e.scores["deletion_gain"] > 0 for e in scored)


# ---- randomisation sanity check ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["image_functional", "image_nested", "hot_region", "tabular_classifier", "text_model"])
def test_randomised_model_redraws_learned_weights_and_keeps_preprocessing(zoo, name) -> None:
    import keras

    model = zoo[name]
    before = [w.copy() for w in model.get_weights()]
    clone = M.randomised_model(model, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the original is untouched
    trained = {v.path: v.numpy() for v in model.trainable_variables}
    redrawn = {v.path: v.numpy() for v in clone.trainable_variables}
    kernels = [(trained[p], v) for p, v in zip(trained, redrawn.values()) if v.ndim >= 2]
    assert kernels and all(not np.allclose(a, b) for a, b in kernels)
    kept = zip(model.non_trainable_variables, clone.non_trainable_variables)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in kept)
    again = M.randomised_model(model, seed=0)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(clone.trainable_variables, again.trainable_variables))
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.TextVectorization):
            copy = clone.get_layer(layer.name)
            assert copy.get_vocabulary() == layer.get_vocabulary() and len(layer.get_vocabulary()) > 10
            texts = np.array(Z.TEXT_CORPUS)
            assert np.array_equal(np.asarray(copy(texts)), np.asarray(layer(texts)))
        if isinstance(layer, keras.layers.Normalization):
            copy = clone.get_layer(layer.name)
            data = Z.tabular_data(5)
            assert np.allclose(np.asarray(copy(data)), np.asarray(layer(data)))
            assert not np.allclose(np.asarray(layer(data)), data)  # the state is not the identity


def test_randomisation_check_tells_model_dependent_from_model_blind_methods(zoo, images) -> None:
    model = zoo["image_functional"]
    blind = M.randomisation_check(model, images, InputItself())
    assert [r["spearman_abs"] for r in blind] == pytest.approx([1.0] * 3)  # ignores the model: fails the check
    dependent = M.randomisation_check(model, images, Occlusion(), seed=1)
    assert len(dependent) == 3
    for r in dependent:
        assert set(r) == {"spearman_abs", "spearman"}
        assert all(type(v) is float and -1 <= v <= 1 for v in r.values())
        assert r["spearman_abs"] < 0.9


# ---- stability ------------------------------------------------------------------------------------
def test_stability_is_one_for_deterministic_attributions_and_lower_for_noise(zoo, images) -> None:
    model = zoo["image_functional"]
    assert [r["stability_topk"] for r in M.stability(model, images[:2], InputItself(), n_seeds=3)] == [1.0, 1.0]
    noisy = M.stability(model, images[:2], Noise(), n_seeds=3, k=10)
    assert all(r["stability_topk"] < 0.5 for r in noisy)
    with pytest.raises(ValueError, match="no seed parameter"):
        M.stability(model, images[:1], Occlusion())


def test_topk_agreement_counts_units_and_ranks_segments_by_weight(zoo) -> None:
    predictor = Predictor(zoo["tabular_linear"], background=np.zeros((1, 4)))
    x = np.zeros(4, dtype=np.float32)
    a = explanation(predictor, x, [4.0, 3.0, -2.0, 1.0], None)
    b = explanation(predictor, x, [4.0, 0.0, 3.0, 2.5], None)
    assert M.topk_agreement(a, b, 2) == 0.5 and M.topk_agreement(a, b, 3) == pytest.approx(2 / 3)
    assert M.topk_agreement(a, b, 2, by="signed") == 0.5 and M.topk_agreement(a, b, 4) == 1.0
    image_predictor = Predictor(zoo["image_functional"])
    segments = np.repeat(np.arange(3), 48).reshape(12, 12)
    image = np.zeros(Z.IMAGE_SHAPE, dtype=np.float32)
    sa = explanation(image_predictor, image, np.array([3.0, 2.0, 1.0])[segments], 0, meta={"segments": segments})
    sb = explanation(image_predictor, image, np.array([3.0, 1.0, 2.0])[segments], 0, meta={"segments": segments})
    assert M.topk_agreement(sa, sb, 2) == 0.5  # segments 0,1 vs 0,2 (pixels would say 1.0: all in segment 0)


def test_agreement_ranks_method_pairs_and_refuses_different_inputs(zoo) -> None:
    predictor = Predictor(zoo["tabular_linear"], background=np.zeros((1, 4)))
    x = np.zeros(4, dtype=np.float32)
    same = explanation(predictor, x, [4.0, 3.0, -2.0, 1.0], None)
    flipped = explanation(predictor, x, [-4.0, -3.0, 2.0, -1.0], None)
    reordered = explanation(predictor, x, [1.0, 2.0, 3.0, 4.0], None)
    table = M.agreement([same, flipped, reordered], k=2)
    assert list(table.columns) == ["method_a", "method_b", "spearman_abs", "spearman", "top_2"]
    assert len(table) == 3
    first, second, _ = table.to_dict("records")
    assert first["spearman"] == pytest.approx(-1.0) and first["spearman_abs"] == pytest.approx(1.0) and first["top_2"] == 1.0
    assert second["spearman_abs"] == pytest.approx(-1.0) and second["top_2"] == 0.0  # |4,3,2,1| against 1,2,3,4
    image = explanation(Predictor(zoo["image_functional"]), np.zeros(Z.IMAGE_SHAPE, np.float32), np.ones(Z.IMAGE_SHAPE), 0)
    with pytest.raises(ValueError, match="one input"):
        M.agreement([same, image])
    with pytest.raises(ValueError, match="at least two"):
        M.agreement([same])


# ---- bootstrap --------------------------------------------------------------------------------------
def test_bootstrap_ci_brackets_the_mean_and_is_seeded() -> None:
    values = np.random.default_rng(0).normal(1.0, 1.0, 60)
    mean, low, high = M.bootstrap_ci(values)
    assert mean == pytest.approx(values.mean()) and low < mean < high
    assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(60), rel=0.2)
    assert M.bootstrap_ci(values, seed=0) == (mean, low, high) and M.bootstrap_ci(values, seed=1) != (mean, low, high)
    _, low99, high99 = M.bootstrap_ci(values, ci=0.99)
    assert low99 < low and high99 > high
    assert M.bootstrap_ci([2.0, 2.0, float("nan")]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="finite"):
        M.bootstrap_ci([])
