"""ROAD (noisy linear imputation) on inputs and models whose right answers are known."""
from __future__ import annotations

import numpy as np
import pytest

import zoo as Z
from explain import metrics as M
from explain.evaluation import curves as curves_module
from explain.evaluation import road as road_module
from explain.evaluation.curves import Curve
from explain.evaluation.road import impute_images
from explain.explanation import Explanation
from explain.predictor import Predictor

REGION = np.zeros(Z.IMAGE_SHAPE)
REGION[2:5, 2:5] = 1.0


def explanation(predictor: Predictor, data, attributions, target, *, meta=None, labels=None) -> Explanation:
    model_input = [Predictor.join_tokens(data)] if predictor.modality == "text" else np.asarray(data, np.float32)[None]
    return Explanation(
        method="hand", modality=predictor.modality, target=target,
        attributions=np.asarray(attributions, dtype=np.float64), data=data, labels=labels,
        prediction=predictor.predict(model_input)[0], base_value=None, params={}, meta=meta or {},
    )


class Recorder:
    """A plain prediction function that keeps every batch it is given (and so counts the predict calls)."""

    def __init__(self, function) -> None:
        self.function, self.batches = function, []

    def __call__(self, batch):
        batch = np.asarray(batch, dtype=np.float64)
        self.batches.append(batch)
        return self.function(batch)

    @property
    def inputs(self) -> np.ndarray:
        return np.concatenate(self.batches)


def region_softmax(batch: np.ndarray) -> np.ndarray:
    """Class 1: brightness of the planted 3x3 region; class 0: of the rest (the hot_region model, in numpy)."""
    pixels = batch.reshape(len(batch), -1)
    inside = REGION.ravel() > 0
    logits = 10 * np.stack([pixels[:, ~inside].mean(axis=1), pixels[:, inside].mean(axis=1)], axis=1)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def image_predictor(function) -> Predictor:
    return Predictor(function, modality="image", input_shape=Z.IMAGE_SHAPE + (1,), class_names=["rest", "region"],
                     batch_size=100_000)


def ramp(shape=(10, 12), channels=2) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.stack([0.3 * yy + 0.7 * xx + 1.0, -0.5 * yy + 0.2 * xx][:channels], axis=-1).astype(np.float32)


# ---- the imputation itself -------------------------------------------------------------------------------
def test_a_linear_ramp_is_reconstructed_exactly_and_known_pixels_never_change() -> None:
    image = ramp()
    block = np.zeros(image.shape[:2], dtype=bool)
    block[3:7, 4:9] = True  # interior: every removed pixel has its full symmetric neighbourhood
    two = np.zeros_like(block)
    two[1:3, 1:4] = two[6:9, 7:11] = True
    [out] = impute_images([(image, np.stack([block.ravel(), two.ravel()]))], noise=0.0)
    assert out.shape == (2,) + image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, np.stack([image, image]), atol=1e-5)  # both channels, one factorisation
    # With noise, kept pixels are bit-identical and imputed ones move by ~ noise * range.
    [noisy] = impute_images([(image, block.ravel()[None])], noise=0.05, seed=3)
    assert np.array_equal(noisy[0][~block], image[~block])
    deviation = noisy[0][block] - image[block]
    assert np.all(deviation != 0)
    spread = image.max() - image.min()
    assert 0.5 * 0.05 * spread < deviation.std() < 1.5 * 0.05 * spread
    [again] = impute_images([(image, block.ravel()[None])], noise=0.05, seed=3)
    [other] = impute_images([(image, block.ravel()[None])], noise=0.05, seed=4)
    assert np.array_equal(again, noisy) and not np.array_equal(other, noisy)


def test_factorisations_are_reused_across_calls_within_a_bounded_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    image = ramp()
    masks = np.random.default_rng(0).random((6,) + image.shape[:2]).reshape(6, -1) < 0.4
    road_module._factors.clear()
    road_module._cached_unknowns = 0  # the cache starts empty (and is left empty: see the end)
    [cold] = impute_images([(image, masks)], noise=0.0)
    factorised = []
    monkeypatch.setattr(road_module.spla, "splu", lambda m: factorised.append(m) or pytest.fail("factorised again"))
    [warm] = impute_images([(image * 2 + 1, masks)], noise=0.0)  # another image, the same masks: no new LU
    np.testing.assert_allclose(warm, cold * 2 + 1, rtol=1e-5, atol=1e-4)  # the system is linear in the image
    monkeypatch.undo()
    road_module._factors.clear()
    road_module._cached_unknowns = 0  # the cache starts empty (and is left empty: see the end)
    monkeypatch.setattr(road_module, "FACTOR_CACHE_UNKNOWNS", int(masks.sum(axis=1).max()) + 1)  # room for one
    impute_images([(image, masks)], noise=0.0)
    assert road_module._cached_unknowns <= road_module.FACTOR_CACHE_UNKNOWNS and len(road_module._factors) == 1
    assert road_module._cached_unknowns == sum(n for *_, n in road_module._factors.values())
    road_module._factors.clear()
    road_module._cached_unknowns = 0


def test_border_weights_are_renormalised_and_everything_removed_gives_the_mean() -> None:
    image = np.full((6, 7), 2.5, dtype=np.float32)
    border = np.zeros((6, 7), dtype=bool)
    border[0, :] = border[:, -1] = True  # corners and edges: their neighbourhoods are cut
    image[3, 3] = 2.5
    [out] = impute_images([(image, border.ravel()[None])], noise=0.0)
    np.testing.assert_allclose(out[0], image, atol=1e-6)  # weights still sum to 1: a constant stays constant
    # A lone removed pixel is exactly the paper's weighted mean of its 8 neighbours.
    rng = np.random.default_rng(0)
    image = rng.normal(size=(5, 5)).astype(np.float32)
    lone = np.zeros((5, 5), dtype=bool)
    lone[2, 2] = True
    [out] = impute_images([(image, lone.ravel()[None])], noise=0.0)
    direct = image[1, 2] + image[3, 2] + image[2, 1] + image[2, 3]
    diagonal = image[1, 1] + image[1, 3] + image[3, 1] + image[3, 3]
    assert out[0, 2, 2] == pytest.approx(direct / 6 + diagonal / 12, abs=1e-6)
    [out] = impute_images([(image, np.ones((1, 25), dtype=bool))], noise=0.0)
    np.testing.assert_allclose(out[0], np.full((5, 5), image.mean()), atol=1e-6)


# ---- the curves ------------------------------------------------------------------------------------------
def test_known_good_map_beats_random_on_morf_and_lerf_and_the_reversed_one_does_not() -> None:
    predictor = Predictor(Z.hot_region_model(), batch_size=4096)  # a real Keras model (only this one: fast)
    image = Z.hot_region_image()
    good, bad = M.road(predictor, [explanation(predictor, image, REGION, 1), explanation(predictor, image, -REGION, 1)])
    assert set(good) == {"road_morf", "road_lerf"}
    morf, lerf = good["road_morf"], good["road_lerf"]
    assert morf.kind == "road_morf" and lerf.kind == "road_lerf"
    assert morf.auc < morf.random_auc and morf.gain > 0.05
    # LeRF keeps the region to the end: the score stays high (the saturated softmax leaves random little below it).
    assert lerf.auc > lerf.random_auc and lerf.gain > 0 and lerf.scores.min() > 0.8
    assert bad["road_morf"].gain < 0 and bad["road_lerf"].gain < -0.3  # the reversed map removes the region first
    assert bad["road_lerf"].scores[1] < 0.55
    # Removing the region first (9 of 144 pixels: by step 0.1) imputes it from the 0.1 around it: both classes
    # then see the same brightness, and class 1 drops from ~1 to 0.5.
    assert morf.scores[0] > 0.99 and morf.scores[1] == pytest.approx(0.5, abs=0.01)
    # Same input, same seed: the random baseline does not depend on the explanation.
    assert morf.random_auc == bad["road_morf"].random_auc and np.array_equal(lerf.random_scores, bad["road_lerf"].random_scores)
    # x-axis: 0 (intact), then round(f * 144) / 144 for the default fractions.
    expected = np.concatenate([[0.0], np.round(np.arange(1, 10) / 10 * 144) / 144])
    np.testing.assert_allclose(morf.fractions, expected)
    assert morf.random_scores.shape == morf.random_fractions.shape == (5, 10)
    intact = predictor.score(image[None], 1)[0]
    assert morf.scores[0] == pytest.approx(intact) and morf.full_score == pytest.approx(intact)
    assert lerf.scores[0] == pytest.approx(intact) and morf.empty_score == lerf.empty_score
    # Every pixel removed: the image's mean everywhere, so both regions are equal: 0.5.
    assert morf.empty_score == pytest.approx(0.5, abs=0.02)
    assert set(morf.summary()) >= {"road_morf_auc", "road_morf_gain", "road_morf_random_auc"}


def test_gain_is_positive_when_better_than_random_for_every_kind() -> None:
    f = np.array([0.0, 0.5, 1.0])

    def curve(kind: str, scores) -> Curve:
        return Curve(kind, f, np.array(scores, float), f[None], np.array([[1.0, 0.5, 0.0]]), 1.0, 0.0)

    low, high = [1.0, 0.1, 0.0], [1.0, 0.9, 0.0]
    assert curve("deletion", low).gain > 0 and curve("road_morf", low).gain > 0  # falls faster than random
    assert curve("insertion", high).gain > 0 and curve("road_lerf", high).gain > 0  # stays higher than random
    assert curve("road_morf", high).gain < 0 and curve("road_lerf", low).gain < 0
    assert curve("road_morf", low).gain == pytest.approx(0.2)


def test_segments_are_removed_whole_and_fractions_count_their_area() -> None:
    recorder = Recorder(region_softmax)
    predictor = image_predictor(recorder)
    segments = np.zeros(Z.IMAGE_SHAPE, dtype=int)
    segments[:6, 6:] = 7
    segments[6:] = 3  # ids 0 (36 px), 7 (36 px), 3 (72 px)
    weights = {0: 0.5, 7: 0.9, 3: 0.1}
    attributions = np.vectorize(weights.get)(segments).astype(float)
    image = np.random.default_rng(1).uniform(size=Z.IMAGE_SHAPE + (1,)).astype(np.float32)
    e = explanation(predictor, image, attributions, 1, meta={"segments": segments})
    recorder.batches.clear()
    [result] = M.road(predictor, [e], fractions=(0.3, 0.6), n_random=2)
    assert len(recorder.batches) == 1
    for perturbed in recorder.inputs:
        changed = perturbed[..., 0] != image[..., 0]
        for sid in (0, 3, 7):
            assert len(np.unique(changed[segments == sid])) == 1  # a segment is imputed whole, or kept whole
    # 3 units: 0.3 -> 1 segment, 0.6 -> 2.  MoRF takes 7 then 0; LeRF takes 3 then 0.  By area:
    np.testing.assert_allclose(result["road_morf"].fractions, [0, 0.25, 0.5])
    np.testing.assert_allclose(result["road_lerf"].fractions, [0, 0.5, 0.75])


def test_tabular_rows_take_the_gaussian_conditional_mean() -> None:
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.8, 0.3, 0.0], [0.8, 1.0, -0.4, 0.2], [0.3, -0.4, 1.5, 0.5], [0.0, 0.2, 0.5, 0.7]])
    background = rng.multivariate_normal([1.0, -2.0, 0.5, 3.0], cov, size=400).astype(np.float32)
    recorder = Recorder(lambda rows: rows @ Z.LINEAR_WEIGHTS[:, None] + Z.LINEAR_BIAS)
    predictor = Predictor(recorder, modality="tabular", output="regression", background=background)
    x = np.array([2.0, 0.0, -1.0, 4.0], dtype=np.float32)
    attributions = np.array([0.1, 3.0, -1.0, 2.0])  # MoRF removes feature 1, then 3, then 0
    [result] = M.road(predictor, [explanation(predictor, x, attributions, None)], fractions=(0.25, 0.5, 0.75), n_random=0)
    mu, sigma = background.astype(np.float64).mean(axis=0), np.cov(background.astype(np.float64).T)
    expected = []
    for removed in ([], [1], [1, 3], [0, 1, 3]):
        kept = [i for i in range(4) if i not in removed]
        row = x.astype(np.float64).copy()
        if removed:
            row[removed] = mu[removed] + sigma[np.ix_(removed, kept)] @ np.linalg.solve(
                sigma[np.ix_(kept, kept)], row[kept] - mu[kept])
        expected.append(row @ Z.LINEAR_WEIGHTS + Z.LINEAR_BIAS)
    np.testing.assert_allclose(result["road_morf"].scores, expected, rtol=1e-5, atol=1e-5)
    assert result["road_morf"].empty_score == pytest.approx(mu @ Z.LINEAR_WEIGHTS + Z.LINEAR_BIAS, abs=1e-5)
    np.testing.assert_allclose(result["road_morf"].fractions, [0, 0.25, 0.5, 0.75])


def test_a_singular_background_covariance_is_handled_by_least_squares() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=(300, 3))
    background = np.column_stack([base, base[:, 0]]).astype(np.float32)  # feature 3 copies feature 0
    recorder = Recorder(lambda rows: rows[:, 3:4] - rows[:, 0:1])
    predictor = Predictor(recorder, modality="tabular", output="regression", background=background)
    x = np.array([1.5, -0.5, 0.2, 1.5], dtype=np.float32)
    [result] = M.road(predictor, [explanation(predictor, x, [0.0, 0.1, 0.2, 9.0], None)], fractions=(0.25,), n_random=0)
    # Feature 3 removed first: its conditional mean given the exact copy is the copy's value.
    np.testing.assert_allclose(result["road_morf"].scores, [0.0, 0.0], atol=1e-5)
    assert np.all(np.isfinite(recorder.inputs))


# ---- refusals --------------------------------------------------------------------------------------------
def test_text_is_refused_with_a_pointer_to_deletion_and_insertion() -> None:
    predictor = Predictor(lambda texts: Z.keyword_function([str(t) for t in np.asarray(texts).ravel()]),
                          modality="text", class_names=["negative", "positive"])
    tokens = "great film but awful plot".split()
    e = explanation(predictor, tokens, [1.0, 0, 0, -1.0, 0], 1, labels=tuple(tokens))
    with pytest.raises(ValueError, match=r"does not apply to text.*deletion/insertion"):
        M.road(predictor, [e])


def test_tabular_without_background_is_refused() -> None:
    predictor = Predictor(lambda rows: rows.sum(axis=1, keepdims=True), modality="tabular", output="regression")
    e = explanation(predictor, np.ones(4, dtype=np.float32), [1.0, 2.0, 3.0, 4.0], None)
    with pytest.raises(ValueError, match=r"background=\.\.\."):
        M.road(predictor, [e])


@pytest.mark.parametrize("options, message", [
    ({"kinds": ("road_morf", "deletion")}, "kinds must be some of"),
    ({"kinds": ()}, "kinds must be some of"),
    ({"fractions": ()}, "non-empty"),
    ({"fractions": (0.0, 0.5)}, "strictly between 0 and 1"),
    ({"fractions": (0.5, 1.0)}, "strictly between 0 and 1"),
    ({"fractions": (0.2, float("nan"))}, "strictly between 0 and 1"),
    ({"fractions": (0.5, 0.2)}, "strictly increasing"),
    ({"fractions": (0.2, 0.2)}, "strictly increasing"),
    ({"noise": -0.1}, "noise must be"),
    ({"n_random": -1}, "n_random must be"),
])
def test_bad_options_are_clear_errors(options, message) -> None:
    predictor = image_predictor(region_softmax)
    e = explanation(predictor, Z.hot_region_image(), REGION, 1)
    with pytest.raises(ValueError, match=message):
        M.road(predictor, [e], **options)


# ---- batching --------------------------------------------------------------------------------------------
def test_many_explanations_take_one_predict_call_and_grouping_keeps_the_results(monkeypatch) -> None:
    recorder = Recorder(region_softmax)
    predictor = image_predictor(recorder)
    rng = np.random.default_rng(5)
    images = [np.clip(Z.hot_region_image() + rng.normal(0, 0.05, Z.IMAGE_SHAPE + (1,)), 0, 1) for _ in range(4)]
    batch = [explanation(predictor, im, a, 1) for im, a in zip(images, (REGION, -REGION, rng.normal(size=Z.IMAGE_SHAPE), REGION))]
    recorder.batches.clear()
    together = M.road(predictor, batch)
    assert len(recorder.batches) == 1  # 4 explanations x 2 kinds x 6 orders x 10 steps: one call
    # Deduplicated: the intact input is scored once per explanation, not once per order and kind.
    assert len(recorder.inputs) <= 4 * (2 * 6 * 9 + 2)
    monkeypatch.setattr(curves_module, "MAX_INPUTS_PER_CALL", 1)  # every explanation fills a group
    recorder.batches.clear()
    grouped = M.road(predictor, batch)
    assert len(recorder.batches) == 4
    for a, b in zip(together, grouped):
        for kind in M.ROAD_KINDS:
            np.testing.assert_allclose(a[kind].scores, b[kind].scores, rtol=1e-6)
            assert a[kind].random_auc == pytest.approx(b[kind].random_auc, rel=1e-6)
    assert road_module.road is M.road and M.ROAD_KINDS == ("road_morf", "road_lerf")
    # One kind alone gives the same numbers as that kind computed with the other.
    [morf_only] = M.road(predictor, batch[:1], kinds=("road_morf",))
    assert set(morf_only) == {"road_morf"}
    np.testing.assert_allclose(morf_only["road_morf"].scores, together[0]["road_morf"].scores, rtol=1e-6)
