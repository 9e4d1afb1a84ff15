"""The SHAP family: exact_shap, kernel_shap, partition_shap, gradient_shap and deep_shap.

Checked against answers known without SHAP: a linear model's Shapley values
``w_i (x_i - mean(background_i))``, additivity ``sum + base_value == score``,
keyword models whose driving words are known, and the sign flip between the
two targets of a binary model.
"""
from __future__ import annotations

import numpy as np
import pytest

import zoo as z
from explain.api import explain, explain_batch
from explain.predictor import Predictor

BACKGROUND = z.tabular_data(30, seed=6)
ROWS = z.tabular_data(3, seed=5)
RNG = np.random.default_rng(7)
IMAGES = RNG.integers(0, 256, size=(2, 12, 12)).astype(np.float32)
IMAGE_BACKGROUND = RNG.integers(0, 256, size=(16, 12, 12)).astype(np.float32)


def explained_score(predictor: Predictor, e) -> float:
    return float(predictor.target_scores(e.prediction[None], e.target)[0])


def gap(predictor: Predictor, e) -> float:
    return abs(e.attributions.sum() + e.base_value - explained_score(predictor, e))


def same(a, b) -> bool:
    """Identical results (timing in meta aside)."""
    return np.array_equal(a.attributions, b.attributions) and a.base_value == b.base_value


def closed_form(rows: np.ndarray, background: np.ndarray) -> np.ndarray:
    return (rows.astype(np.float64) - background.astype(np.float64).mean(0)) * z.LINEAR_WEIGHTS


@pytest.fixture(scope="module")
def linear_predictors(zoo):
    return {
        "keras": Predictor(zoo["tabular_linear"], background=BACKGROUND),
        "function": Predictor(z.linear_function, modality="tabular", background=BACKGROUND),
    }


# ---- tabular: exact and kernel ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["keras", "function"])
@pytest.mark.parametrize("method", ["exact_shap", "kernel_shap"])
def test_linear_model_gets_closed_form_shap_values(linear_predictors, kind, method):
    predictor = linear_predictors[kind]
    batch = explain_batch(predictor, ROWS, method)
    np.testing.assert_allclose(np.stack([e.attributions for e in batch]), closed_form(ROWS, BACKGROUND), atol=1e-6)
    expected_base = float(z.linear_function(BACKGROUND.astype(np.float64).mean(0)[None])[0, 0])
    for e in batch:
        assert e.base_value == pytest.approx(expected_base, abs=1e-6)
        assert gap(predictor, e) < 1e-6
        assert e.meta["n_evaluations"] > 0


def test_kernel_shap_summarises_a_large_background_by_weighted_kmeans(linear_predictors):
    import shap

    predictor = linear_predictors["function"]
    background = z.tabular_data(80, seed=9)
    e = explain(predictor, ROWS[0], "kernel_shap", background=background, background_size=10)
    summary = shap.kmeans(background, 10, round_values=False)
    summary_mean = summary.weights @ summary.data
    np.testing.assert_allclose(e.attributions, (ROWS[0] - summary_mean) * z.LINEAR_WEIGHTS, atol=1e-6)
    assert e.meta["background_rows"] == 10 and gap(predictor, e) < 1e-6


def test_kernel_shap_with_all_coalitions_equals_exact_shap_on_a_classifier(zoo):
    predictor = Predictor(zoo["tabular_classifier"], background=BACKGROUND)
    for target in range(3):
        exact = explain_batch(predictor, ROWS, "exact_shap", targets=target)
        kernel = explain_batch(predictor, ROWS, "kernel_shap", targets=target)
        for a, b in zip(exact, kernel):
            assert gap(predictor, a) < 1e-6 and gap(predictor, b) < 1e-6
            np.testing.assert_allclose(a.attributions, b.attributions, atol=1e-6)
            assert a.base_value == pytest.approx(b.base_value, abs=1e-7)


def test_kernel_shap_sampling_is_seeded_and_leaves_numpy_global_rng_alone():
    predictor = Predictor(lambda x: np.tanh(x @ np.arange(1.0, 9.0)[:, None] / 8), modality="tabular",
                          background=np.random.default_rng(0).normal(size=(12, 8)))
    x = np.random.default_rng(1).normal(size=8)
    np.random.seed(123)
    expected_draw = np.random.rand()
    np.random.seed(123)
    a = explain(predictor, x, "kernel_shap", nsamples=60, seed=1)
    assert np.random.rand() == expected_draw
    b = explain(predictor, x, "kernel_shap", nsamples=60, seed=1)
    c = explain(predictor, x, "kernel_shap", nsamples=60, seed=2)
    assert same(a, b) and not np.allclose(a.attributions, c.attributions)
    assert gap(predictor, a) < 1e-6  # kernel SHAP enforces efficiency even when sampling


def test_exact_shap_refuses_too_many_features_and_needs_a_background():
    wide = Predictor(lambda x: x.sum(1, keepdims=True), modality="tabular", background=np.zeros((2, 15)))
    with pytest.raises(ValueError, match="kernel_shap"):
        explain(wide, np.ones(15), "exact_shap")
    bare = Predictor(z.linear_function, modality="tabular")
    with pytest.raises(ValueError, match="background"):
        explain(bare, ROWS[0], "kernel_shap")


# ---- partition: images ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["image_functional", "image_sequential", "image_regression"])
def test_partition_shap_images_add_up(zoo, name):
    predictor = Predictor(zoo[name])
    images = IMAGES if name == "image_functional" else IMAGES[..., None] / 255
    batch = explain_batch(predictor, images, "partition_shap", max_evals=300)
    for e in batch:
        assert e.attributions.shape == (12, 12) and np.ptp(e.attributions) > 0
        assert gap(predictor, e) < 1e-6
    black = predictor.score(np.zeros((1,) + predictor.input_shape), batch[0].target)[0]
    assert batch[0].base_value == pytest.approx(black, abs=1e-6)  # hidden = black


def test_partition_shap_binary_targets_flip_sign(zoo):
    predictor = Predictor(zoo["image_binary"])
    image = IMAGES[0][..., None] / 255
    on, off = explain(predictor, image, "partition_shap", 1), explain(predictor, image, "partition_shap", 0)
    np.testing.assert_allclose(on.attributions, -off.attributions, atol=1e-7)
    assert on.base_value + off.base_value == pytest.approx(1.0, abs=1e-7)
    assert gap(predictor, on) < 1e-6 and gap(predictor, off) < 1e-6


def test_partition_shap_finds_the_planted_region(zoo):
    predictor = Predictor(zoo["hot_region"])
    e = explain(predictor, z.hot_region_image(), "partition_shap", 1)
    inside = np.zeros((12, 12), dtype=bool)
    inside[2:5, 2:5] = True
    assert e.attributions[inside].sum() > 0.5 * abs(e.attributions).sum()


# ---- partition: texts ----------------------------------------------------------------------------
def test_partition_shap_text_function_credits_the_keywords():
    predictor = Predictor(z.keyword_function, modality="text", class_names=["neg", "pos"])
    text = "the film was great but the acting was awful"
    e = explain(predictor, text, "partition_shap", 1)
    values = dict(zip(e.labels, e.attributions))
    assert len(e.attributions) == len(text.split()) and values["great"] > 0 > values["awful"]
    assert abs(values["film"]) < 1e-12 and gap(predictor, e) < 1e-6
    single = explain(predictor, "great", "partition_shap", 1)
    assert single.attributions.shape == (1,) and gap(predictor, single) < 1e-9


def test_partition_shap_text_model_aligns_with_its_tokens(zoo):
    predictor = Predictor(zoo["text_model"])
    texts = ["A great and wonderful film!", "boring plot end\x85credits<br /> and awful acting"]
    for text, e in zip(texts, explain_batch(predictor, texts, "partition_shap", max_evals=200)):
        tokens = predictor.text_view(text).tokens
        assert list(e.labels) == list(tokens) and e.attributions.shape == (len(tokens),)
        assert gap(predictor, e) < 1e-6


# ---- gradient_shap -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["image_nested", "tabular_classifier"])
def test_gradient_shap_adds_up_approximately_and_is_seeded(zoo, name):
    image = name.startswith("image")
    background = IMAGE_BACKGROUND if image else BACKGROUND
    inputs = IMAGES if image else ROWS
    predictor = Predictor(zoo[name], background=background)
    batch = explain_batch(predictor, inputs, "gradient_shap", nsamples=500, seed=3)
    outputs = predictor.predict(background)
    for e in batch:
        assert e.attributions.shape == ((12, 12) if image else (4,))
        assert e.base_value == pytest.approx(predictor.target_scores(outputs, e.target).mean(), abs=1e-9)
        assert gap(predictor, e) < 1e-2
        assert e.meta["additivity_gap"] == pytest.approx(explained_score(predictor, e) - e.attributions.sum() - e.base_value)
    again = explain_batch(predictor, inputs, "gradient_shap", nsamples=500, seed=3)
    other = explain_batch(predictor, inputs, "gradient_shap", nsamples=500, seed=4)
    assert all(map(same, batch, again)) and not np.allclose(batch[0].attributions, other[0].attributions)


def test_gradient_shap_on_a_linear_model(zoo):
    """One reference: integrated gradients, exactly w (x - b); a background: the closed form up to sampling."""
    model = zoo["tabular_linear"]
    single = explain_batch(Predictor(model, background=BACKGROUND[:1]), ROWS, "gradient_shap", nsamples=50)
    np.testing.assert_allclose(np.stack([e.attributions for e in single]), closed_form(ROWS, BACKGROUND[:1]), atol=1e-5)
    sampled = explain_batch(Predictor(model, background=BACKGROUND), ROWS, "gradient_shap", nsamples=2000)
    values = np.stack([e.attributions for e in sampled])
    np.testing.assert_allclose(values, closed_form(ROWS, BACKGROUND), atol=0.1)
    assert np.all(values[:, 3] == 0)  # zero weight, zero attribution


# ---- deep_shap -----------------------------------------------------------------------------------
def test_deep_shap_is_additive_and_reads_uint8_backgrounds_as_numbers(zoo):
    images = IMAGES
    as_float = explain_batch(Predictor(zoo["image_nested"], background=IMAGE_BACKGROUND), images, "deep_shap")
    as_uint8 = explain_batch(Predictor(zoo["image_nested"], background=IMAGE_BACKGROUND.astype(np.uint8)), images, "deep_shap")
    predictor = Predictor(zoo["image_nested"])
    for a, b in zip(as_float, as_uint8):
        assert gap(predictor, a) < 1e-5
        np.testing.assert_allclose(a.attributions, b.attributions, atol=1e-9)  # uint8 x - b would wrap around
    linear = explain_batch(Predictor(zoo["tabular_linear"], background=BACKGROUND), ROWS, "deep_shap")
    np.testing.assert_allclose(np.stack([e.attributions for e in linear]), closed_form(ROWS, BACKGROUND), atol=1e-5)


def test_deep_shap_refuses_models_it_gets_wrong():
    import keras

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, kernel_initializer=keras.initializers.RandomNormal(seed=0))(inputs)
    peak = keras.Model(inputs, keras.layers.Dense(1)(keras.ops.max(hidden, axis=-1, keepdims=True)))
    wavy = keras.Model(inputs, keras.layers.Dense(1)(keras.ops.sin(hidden)))
    with pytest.raises(ValueError, match="do not add up.*gradient_shap"):  # shap's reduce-max rule is silently wrong
        explain(Predictor(peak, background=BACKGROUND), ROWS, "deep_shap")
    with pytest.raises(ValueError, match="'Sin'.*gradient_shap"):
        explain(Predictor(wavy, background=BACKGROUND), ROWS, "deep_shap")


def test_a_failed_deep_shap_leaves_gradients_working(zoo, images):
    """shap's DeepExplainer leaves TensorFlow's gradient hook swapped when it fails; deep_shap must restore it."""
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.ops.sin(inputs)))
    with pytest.raises(ValueError, match="deep_shap"):
        explain(Predictor(model, background=np.zeros((2, 4), np.float32)), np.ones(4, np.float32), "deep_shap")
    cam = explain(zoo["image_functional"], images[0], "gradcam")
    assert np.all(np.isfinite(cam.attributions))
