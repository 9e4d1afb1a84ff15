"""The gradient family against answers known in closed form, and the planted region for occlusion."""
from __future__ import annotations

import numpy as np
import pytest

import zoo as z
from explain import metrics
from explain.api import explain, explain_batch
from explain.methods.integrated_gradients import quadrature
from explain.predictor import Predictor


def _square_model():
    """f(x) = sum(x^2), a regression: its gradient is 2x, its IG from zero is x^2 exactly."""
    import keras

    inputs = keras.Input((z.N_FEATURES,))
    outputs = keras.layers.Lambda(lambda t: keras.ops.sum(t * t, axis=1, keepdims=True))(inputs)
    return keras.Model(inputs, outputs, name="square")


@pytest.fixture(scope="module")
def rows():
    return z.tabular_data(3, seed=11)


def test_linear_model_ig_from_zero_and_gradient_x_input_equal_w_times_x(zoo, rows):
    for method in ("integrated_gradients", "gradient_x_input"):
        for e, x in zip(explain_batch(zoo["tabular_linear"], rows, method, baseline="zeros")
                        if method == "integrated_gradients" else explain_batch(zoo["tabular_linear"], rows, method), rows):
            np.testing.assert_allclose(e.attributions, z.LINEAR_WEIGHTS * x, rtol=1e-5, atol=1e-6)


def test_square_model_gradient_is_two_x_and_ig_is_x_squared(rows):
    model = _square_model()
    saliency = explain_batch(model, rows, "saliency")
    ig = explain_batch(model, rows, "integrated_gradients", baseline="zeros", steps=8)
    for x, s, i in zip(rows, saliency, ig):
        np.testing.assert_allclose(s.attributions, np.abs(2 * x), rtol=1e-5)
        np.testing.assert_allclose(i.attributions, x**2, rtol=1e-4)  # Gauss-Legendre is exact for a quadratic
        assert i.base_value == pytest.approx(0.0) and abs(i.meta["completeness_gap"]) < 1e-4


def test_ig_mean_baseline_is_the_background_mean_and_completeness_holds(zoo, rows):
    background = z.tabular_data(40, seed=12)
    predictor = Predictor(zoo["tabular_classifier"], background=background)
    e = explain(predictor, rows[0], "integrated_gradients", steps=64)
    assert e.meta["baseline"] == "mean"
    change = e.meta["score_value"] - e.base_value
    assert abs(e.meta["completeness_gap"]) <= 1e-2 * abs(change)  # a ReLU net: kinks cost a little
    assert metrics.additivity(predictor, e)["additivity_error"] == pytest.approx(abs(e.meta["completeness_gap"]), abs=1e-6)


def test_quadrature_rules_integrate_a_cubic(zoo):
    for rule, steps, tol in (("gausslegendre", 2, 1e-12), ("riemann_trapezoid", 200, 1e-4), ("riemann_middle", 200, 1e-4)):
        alphas, weights = quadrature(rule, steps)
        assert np.sum(weights * alphas**3) == pytest.approx(0.25, abs=tol)


def test_smoothgrad_with_zero_noise_is_saliency_and_noise_is_seeded(zoo, images):
    model = zoo["image_functional"]
    plain = explain(model, images[0], "saliency").attributions
    np.testing.assert_allclose(explain(model, images[0], "smoothgrad", noise=0.0, samples=3).attributions, plain,
                               rtol=1e-5, atol=1e-9)
    noisy = explain(model, images[0], "smoothgrad", noise=0.3, samples=8, seed=4)
    assert noisy.params["seed"] == 4 and noisy.meta["noise_sigma"] == pytest.approx(0.3 * np.ptp(images[0]))
    for variant in ("squared", "vargrad"):
        assert explain(model, images[0], "smoothgrad", variant=variant, samples=4).attributions.min() >= 0


def test_occlusion_peaks_on_the_planted_hot_region(zoo):
    image = z.hot_region_image()
    a = explain(zoo["hot_region"], image, "occlusion", target=1, patch=2, stride=1).attributions
    inside = a[2:5, 2:5].mean()
    assert inside > 0 and inside > 5 * np.abs(np.delete(a.ravel(), np.ravel_multi_index(
        np.mgrid[2:5, 2:5].reshape(2, -1), a.shape))).mean()


def test_occlusion_explains_a_plain_function_row_by_feature(rows):
    background = z.tabular_data(50, seed=2)
    predictor = Predictor(z.linear_function, modality="tabular", background=background)
    e = explain(predictor, rows[0], "occlusion")
    expected = z.LINEAR_WEIGHTS * (rows[0] - background.mean(axis=0))  # a linear model: drop = w_i (x_i - fill_i)
    np.testing.assert_allclose(e.attributions, expected, rtol=1e-4, atol=1e-5)


def test_text_gradients_are_per_token_and_ig_adds_up_over_the_tokens_shown(zoo):
    for model in (zoo["text_model"], z.lstm_text_model()):
        e = explain(model, "a great and wonderful film", "integrated_gradients", steps=64)
        assert e.labels == ("a", "great", "and", "wonderful", "film") and e.attributions.shape == (5,)
        assert e.attributions.sum() == pytest.approx(e.meta["score_value"] - e.base_value, abs=2e-3)


def test_gradient_methods_refuse_a_plain_function_and_text_without_embedding(zoo):
    predictor = Predictor(z.linear_function, modality="tabular")
    with pytest.raises(ValueError, match="Keras model"):
        explain(predictor, np.zeros(z.N_FEATURES), "integrated_gradients")


def test_unknown_score_and_bad_parameters_are_refused_with_their_name(zoo, images):
    with pytest.raises(ValueError, match="'score' must be one of"):
        explain(zoo["image_functional"], images[0], "saliency", score="softmax")
    with pytest.raises(ValueError, match="'steps' must be between 2"):
        explain(zoo["image_functional"], images[0], "integrated_gradients", steps=1)
    with pytest.raises(TypeError, match="'samples' must be int"):
        explain(zoo["image_functional"], images[0], "smoothgrad", samples="many")


def test_occlusion_holds_a_bounded_number_of_copies_with_the_same_result(zoo, images, monkeypatch):
    from explain.methods import occlusion

    model = zoo["image_functional"]
    whole = explain_batch(model, images[:2], "occlusion", targets=0)
    monkeypatch.setattr(occlusion, "MAX_COPIES", 7)
    predictor = Predictor(model)
    chunked = explain_batch(predictor, images[:2], "occlusion", targets=0)
    copies = 2 * (5 * 5 + 1)  # 12x12, patch 4, stride 2: 5x5 patches, plus each image itself
    assert predictor.calls == 1 + -(-copies // 7)  # the pipeline's prediction, then copies 7 at a time
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method, params, words", [
    ("lime_image", {"num_samples": -5}, "'num_samples' must be between 1"),
    ("lime_image", {"num_samples": "many"}, "'num_samples' must be int"),
    ("lime_image", {"segmentation": "watershed"}, "'segmentation' must be one of"),
    ("partition_shap", {"max_evals": -10}, "'max_evals' must be between 2"),
    ("lime_image", {"seed": "zero"}, "'seed' must be int"),
])
def test_every_declared_parameter_is_checked_before_any_work(zoo, images, method, params, words):
    with pytest.raises((TypeError, ValueError), match=words):
        explain(zoo["image_functional"], images[0], method, **params)
