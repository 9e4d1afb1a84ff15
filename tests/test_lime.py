"""The LIME family: lime_image, lime_text and lime_tabular, and the image segmentations.

Checked against stock lime (same seed, same segment weights), against answers
known without LIME (a linear model's slopes, the one feature a function reads,
keywords that move a score), and against invariants of lime's linear fits
(binary targets mirror each other, multiclass weights sum to zero).
"""
from __future__ import annotations

import numpy as np
import pytest

import zoo as z
from explain.api import explain, explain_batch
from explain.predictor import Predictor
from explain.segmentation import SEGMENTATIONS, segment, segmenter

BACKGROUND = z.tabular_data(60, seed=6)
ROWS = z.tabular_data(3, seed=5)
REVIEW = "a great film but an awful ending and great music"


def digit_like() -> np.ndarray:
    """A 28 x 28 "7" drawn with 3-pixel anti-aliased strokes, bright on black in [0, 1], like MNIST."""
    from skimage.draw import line_aa

    image = np.zeros((28, 28))
    for r0, c0, r1, c1 in [(6, 7, 6, 21), (6, 21, 23, 12)]:
        for offset in (-1, 0, 1):
            rr, cc, value = line_aa(r0 + offset, c0, r1 + offset, c1)
            image[rr, cc] = np.maximum(image[rr, cc], value)
    return image


# ---- segmentation ------------------------------------------------------------------------------
def test_segmentations_split_a_digit_where_limes_default_makes_one_segment():
    from lime.wrappers.scikit_image import SegmentationAlgorithm
    from skimage.color import gray2rgb

    image = digit_like()
    limes_default = SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2)  # what lime uses
    assert len(np.unique(limes_default(gray2rgb(image)))) == 1  # the whole digit and background: one segment
    for method in SEGMENTATIONS:
        labels = segment(image, method, 49)
        assert labels.shape == (28, 28)
        assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))  # consecutive ids, as lime needs
        assert labels.max() + 1 > 10, method
        assert np.array_equal(labels, segment(image, method, 49))  # deterministic
        # Raw 0-255 pixels, a 3-channel stack and [0, 1] values segment alike.
        assert np.array_equal(labels, segment(gray2rgb(image * 255), method, 49))
    grid = segment(image, "grid", 49)
    assert np.array_equal(grid[::4, ::4], np.arange(49).reshape(7, 7))  # 7 x 7 patches of 4 x 4 pixels
    with pytest.raises(ValueError, match="Unknown segmentation"):
        segment(image, "watershed")


# ---- lime_image --------------------------------------------------------------------------------
def test_lime_image_equals_stock_lime_under_the_same_seed(zoo, images):
    from lime.lime_image import LimeImageExplainer

    model = zoo["image_functional"]
    for image in images[:2]:
        ours = explain(model, image, "lime_image", num_samples=200, seed=3, n_segments=16)
        stock = LimeImageExplainer(random_state=3).explain_instance(
            image, lambda batch: model.predict(batch[..., 0], verbose=0), top_labels=3, hide_color=0.0,
            num_samples=200, segmentation_fn=segmenter("grid", 16),
        )
        assert np.array_equal(stock.segments, ours.meta["segments"])
        weights = np.zeros(16)
        for segment_id, weight in stock.local_exp[ours.target]:
            weights[segment_id] = weight
        # Same perturbations, same kernel weights, same ridge fit: only float32 rounding of the model's outputs
        # differs, because stock lime predicts in batches of 10 and we predict all samples at once.
        np.testing.assert_allclose(ours.attributions, weights[stock.segments], rtol=1e-4, atol=1e-9)
        assert ours.base_value == pytest.approx(stock.intercept[ours.target], rel=1e-5)
        assert ours.meta["score"] == stock.score or len(stock.top_labels) > 1  # lime keeps the last label's R^2
        assert ours.meta["n_evaluations"] == 200


def test_lime_image_seed_controls_the_result_and_batches_do_not_leak(zoo, images):
    model = zoo["image_sequential"]
    x = images[..., None] / 255.0
    first = explain_batch(model, x, "lime_image", num_samples=150, seed=1, n_segments=16)
    again = explain(model, x[2], "lime_image", num_samples=150, seed=1, n_segments=16)
    other = explain(model, x[2], "lime_image", num_samples=150, seed=2, n_segments=16)
    np.testing.assert_array_equal(first[2].attributions, again.attributions)  # position in the batch does not matter
    assert not np.allclose(first[2].attributions, other.attributions)
    assert first[2].params["seed"] == 1 and other.params["seed"] == 2


def test_lime_image_binary_targets_mirror_and_regression_works(zoo, images):
    x = images[0][..., None]
    binary = [explain(zoo["image_binary"], x, "lime_image", target=t, num_samples=150, n_segments=16) for t in (0, 1)]
    # Same draws, label columns 1-p and p: the ridge fits are exact mirrors.
    np.testing.assert_allclose(binary[0].attributions, -binary[1].attributions, atol=1e-9)
    assert binary[0].base_value + binary[1].base_value == pytest.approx(1.0)
    assert np.abs(binary[1].attributions).max() > 0
    regression = explain(zoo["image_regression"], x, "lime_image", num_samples=150, n_segments=16)
    assert regression.target is None and regression.attributions.shape == (12, 12)
    assert np.abs(regression.attributions).max() > 0 and np.isfinite(regression.base_value)
    nested = explain(zoo["image_nested"], images[1], "lime_image", num_samples=150, n_segments=16)
    assert nested.attributions.shape == (12, 12) and len(np.unique(nested.meta["segments"])) == 16


def test_lime_image_finds_the_planted_region(zoo):
    e = explain(zoo["hot_region"], z.hot_region_image(), "lime_image", target=1, num_samples=300, n_segments=16)
    # 3 x 3 patches; the planted rows/cols 2-4 fall in patches 0, 1, 4 and 5.
    weights = np.array([e.attributions[e.meta["segments"] == s][0] for s in range(16)])
    assert set(np.argsort(-weights)[:2]) <= {0, 1, 4, 5}
    assert weights[0] > 0


def test_lime_image_explains_a_plain_function():
    def top_left(images):
        images = np.asarray(images)
        return 1 / (1 + np.exp(-10 * (images[:, :4, :4].mean(axis=(1, 2)) - 0.5)))[:, None]

    predictor = Predictor(top_left, modality="image", class_names=["other", "top-left"])
    e = explain(predictor, np.ones((12, 12), dtype=np.float32), "lime_image", num_samples=200, n_segments=9)
    assert e.target == 1
    segment_weights = np.array([e.attributions[e.meta["segments"] == s][0] for s in range(9)])
    assert np.argmax(segment_weights) == 0 and segment_weights[0] > 10 * np.abs(segment_weights[1:]).max()


# ---- lime_text ---------------------------------------------------------------------------------
def test_lime_text_on_the_keras_text_model(zoo):
    predictor = Predictor(zoo["text_model"])
    e = explain(predictor, REVIEW, "lime_text", num_samples=300)
    assert len(e.attributions) == len(predictor.text_view(REVIEW).tokens) == 10
    assert np.abs(e.attributions).max() > 0 and e.meta["n_evaluations"] == 300


def test_lime_text_keyword_function_weights_the_keywords():
    predictor = Predictor(z.keyword_function, modality="text", class_names=["neg", "pos"])
    tokens = REVIEW.split()
    e = explain(predictor, REVIEW, "lime_text", target=1, num_samples=400, seed=0)
    assert list(e.labels) == tokens and e.attributions.shape == (len(tokens),)
    weights = dict(zip(range(len(tokens)), e.attributions))
    for i, token in enumerate(tokens):
        if token == "great":
            assert weights[i] > 0.05
        elif token == "awful":
            assert weights[i] < -0.05
        else:
            assert abs(weights[i]) < 0.03
    mirrored = explain(predictor, REVIEW, "lime_text", target=0, num_samples=400, seed=0)
    np.testing.assert_allclose(mirrored.attributions, -e.attributions, atol=1e-9)
    different = explain(predictor, REVIEW, "lime_text", target=1, num_samples=400, seed=1)
    assert not np.allclose(different.attributions, e.attributions)


# ---- lime_tabular ------------------------------------------------------------------------------
def test_lime_tabular_recovers_the_driving_feature():
    predictor = Predictor(z.driver_function, modality="tabular", output="binary", background=BACKGROUND)
    for e in explain_batch(predictor, ROWS, "lime_tabular", num_samples=1000):
        others = np.delete(np.abs(e.attributions), 2)
        assert np.abs(e.attributions[2]) > 10 * others.max()


@pytest.mark.parametrize("kind", ["keras", "function"])
def test_lime_tabular_regression_slopes_have_the_models_signs(zoo, kind):
    model = zoo["tabular_linear"] if kind == "keras" else z.linear_function
    predictor = Predictor(model, background=BACKGROUND) if kind == "keras" else Predictor(model, modality="tabular", background=BACKGROUND)
    batch = explain_batch(predictor, ROWS, "lime_tabular", num_samples=1000, contributions=False)
    std = BACKGROUND.astype(np.float64).std(axis=0)
    for e in batch:
        assert e.target is None and e.attributions.shape == (4,)
        nonzero = z.LINEAR_WEIGHTS != 0
        assert np.array_equal(np.sign(e.attributions[nonzero]), np.sign(z.LINEAR_WEIGHTS[nonzero]))
        # Slopes per background std: w_i * std_i (ridge shrinks them a little).
        np.testing.assert_allclose(e.attributions / std, z.LINEAR_WEIGHTS, rtol=0.05, atol=0.02)
    contributions = explain(predictor, ROWS[0], "lime_tabular", num_samples=1000)  # the default
    expected = (ROWS[0] - BACKGROUND.mean(axis=0)) * z.LINEAR_WEIGHTS  # the SHAP values of a linear model
    np.testing.assert_allclose(contributions.attributions, expected, rtol=0.05, atol=0.02)
    assert contributions.attributions.sum() + contributions.base_value == pytest.approx(contributions.meta["local_prediction"])


def test_lime_tabular_classifier_weights_sum_to_zero_over_classes(zoo):
    predictor = Predictor(zoo["tabular_classifier"])
    per_class = [explain(predictor, ROWS[0], "lime_tabular", target=t, num_samples=500, background=BACKGROUND) for t in range(3)]
    total = np.sum([e.attributions for e in per_class], axis=0)
    # Probabilities sum to 1 and lime's fits share the draws, so the weights cancel across classes.
    np.testing.assert_allclose(total, 0.0, atol=1e-6)
    assert max(np.abs(e.attributions).max() for e in per_class) > 1e-3
    same = explain(predictor, ROWS[0], "lime_tabular", target=0, num_samples=500, background=BACKGROUND)
    np.testing.assert_array_equal(same.attributions, per_class[0].attributions)
    discretized = explain(predictor, ROWS[0], "lime_tabular", target=0, num_samples=500, background=BACKGROUND,
                          discretize_continuous=True)
    assert len(discretized.meta["feature_conditions"]) == 4 and not np.allclose(discretized.attributions, same.attributions)
    with pytest.raises(ValueError, match="background"):
        explain(predictor, ROWS[0], "lime_tabular", num_samples=100)
