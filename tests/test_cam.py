"""CAM family (gradcam, gradcam_pp, cam): known answers, hand computations, layer finding, batching."""
from __future__ import annotations

import numpy as np
import pytest

import zoo as z
from explain import layers as L
from explain.api import explain, explain_batch

INSIDE = (slice(2, 5), slice(2, 5))


def _inside_outside(a: np.ndarray) -> tuple[float, float]:
    mask = np.zeros(a.shape, dtype=bool)
    mask[INSIDE] = True
    return float(a[mask].mean()), float(a[~mask].mean())


@pytest.fixture(scope="module")
def detector():
    """Class 1 = mean of a 'bright' channel relu(x - .5), class 0 = mean of a 'dark' channel relu(.5 - x).

    On zoo.hot_region_image() Grad-CAM for class 1 is c * relu(bright - dark): 0.5c in the planted
    region, 0 elsewhere; for class 0 it is the reverse.  (Unlike zoo.hot_region, see below.)
    """
    import keras
    from keras import layers

    inputs = keras.Input((12, 12, 1))
    conv = layers.Conv2D(2, 1, activation="relu", name="detect")
    dense = layers.Dense(2, activation="softmax", name="classes")
    model = keras.Model(inputs, dense(layers.GlobalAveragePooling2D()(conv(inputs))), name="detector")
    conv.set_weights([np.array([1.0, -1.0], "float32").reshape(1, 1, 1, 2), np.array([-0.5, 0.5], "float32")])
    dense.set_weights([np.array([[0.0, 10.0], [10.0, 0.0]], "float32"), np.zeros(2, "float32")])
    return model


# ---- known answers ------------------------------------------------------------------------------
def test_gradcam_finds_the_planted_region_and_only_for_its_class(detector):
    image = z.hot_region_image()
    hot = explain(detector, image, "gradcam", target=1).attributions
    assert np.unravel_index(np.argmax(hot), hot.shape) in {(r, c) for r in range(2, 5) for c in range(2, 5)}
    inside, outside = _inside_outside(hot)
    assert inside > 0 and outside < 1e-3 * inside
    cold = explain(detector, image, "gradcam", target=0).attributions
    inside, outside = _inside_outside(cold)
    assert outside > 0 and inside < 1e-3 * outside


def test_gradcam_on_zoo_hot_region_is_flat_because_its_averaged_gradients_cancel(zoo):
    """zoo.hot_region gives both classes the same total weight per channel of a copy conv, so the
    spatially averaged gradient of log p1 is exactly 0: Grad-CAM must be ~0, not a made-up peak."""
    a = explain(zoo["hot_region"], z.hot_region_image(), "gradcam", target=1, score="log_p").attributions
    assert np.max(np.abs(a)) < 1e-6


@pytest.mark.parametrize("model", ["hot_region", "detector"])
def test_gradcam_pp_peaks_in_the_planted_region(zoo, detector, model):
    net = detector if model == "detector" else zoo["hot_region"]
    a = explain(net, z.hot_region_image(), "gradcam_pp", target=1).attributions
    assert np.unravel_index(np.argmax(a), a.shape) in {(r, c) for r in range(2, 5) for c in range(2, 5)}
    inside, outside = _inside_outside(a)
    assert inside > 5 * outside


# ---- hand computations --------------------------------------------------------------------------
def test_gradcam_equals_a_hand_computation_with_a_sub_model(zoo, images):
    import keras
    import tensorflow as tf

    model = zoo["image_functional"]
    probe = keras.Model(model.inputs, [model.get_layer("conv_b").output, model.output])
    targets = [0, 2, 1]
    with tf.GradientTape() as tape:
        A, p = probe([images], training=False)
        score = tf.reduce_sum(tf.math.log(tf.gather(p, targets, axis=1, batch_dims=1)))
    G = tape.gradient(score, A).numpy()
    expected = np.maximum((G.mean(axis=(1, 2), keepdims=True) * A.numpy()).sum(-1), 0)
    batch = explain_batch(model, images, "gradcam", targets, score="log_p")
    got = np.stack([e.attributions for e in batch])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    assert got.max() > 0 and batch[0].meta["score"].startswith("log-probability")


def test_gradcam_default_differentiates_the_pre_softmax_class_score_as_published(zoo, images):
    """Selvaraju et al. differentiate y^c before the softmax: a hand-written GradientTape on the logits."""
    import keras
    import tensorflow as tf

    model = zoo["image_functional"]
    probe = keras.Model(model.inputs, model.get_layer("conv_b").output)
    head = model.get_layer("head")
    targets = [0, 2, 1]
    with tf.GradientTape() as tape:
        A = probe(images, training=False)
        tape.watch(A)
        logits = tf.reduce_mean(A, axis=(1, 2)) @ head.kernel + head.bias
        score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
    G = tape.gradient(score, A).numpy()
    expected = np.maximum((G.mean(axis=(1, 2), keepdims=True) * A.numpy()).sum(-1), 0)
    batch = explain_batch(model, images, "gradcam", targets)
    np.testing.assert_allclose(np.stack([e.attributions for e in batch]), expected, rtol=1e-4, atol=1e-7)
    assert batch[0].params["score"] == "logit" and batch[0].meta["score"].startswith("logit")


def test_cam_equals_the_dense_weights_times_the_activations(zoo, images):
    import keras

    model = zoo["image_functional"]
    A = keras.Model(model.inputs, model.get_layer("conv_b").output)([images]).numpy()
    kernel = model.get_layer("head").kernel.numpy()
    results = explain_batch(model, images, "cam", [1, 0, 2])
    for a, e, t in zip(A, results, [1, 0, 2]):
        np.testing.assert_allclose(e.attributions, a @ kernel[:, t], rtol=1e-5, atol=1e-6)
        assert e.meta["layer"] == "conv_b" and e.meta["dense_layer"] == "head"


def test_cam_mean_plus_bias_is_the_regression_output(zoo, images):
    model = zoo["image_regression"]
    e = explain(model, images[0][..., None] / 255, "cam")
    bias = float(model.layers[-1].bias.numpy()[0])
    assert e.attributions.mean() + bias == pytest.approx(float(e.prediction[0]), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("model,target", [("image_binary", 0), ("image_binary", 1), ("image_regression", None)])
def test_gradcam_is_relu_of_cam_up_to_a_positive_scale_for_single_unit_heads(zoo, images, model, target):
    """GAP -> one Dense unit: dS/dA_k is w_k times one positive number per row (1-p, p or 1/N)."""
    x = images[0][..., None] / 255
    grad = explain(zoo[model], x, "gradcam", target=target).attributions
    cam = np.maximum(explain(zoo[model], x, "cam", target=target).attributions, 0)
    assert cam.max() > 0
    scale = float((grad * cam).sum() / (cam * cam).sum())
    assert scale > 0
    np.testing.assert_allclose(grad, scale * cam, rtol=0, atol=1e-4 * grad.max())


def test_gradcam_pp_with_pooled_head_weights_channels_by_positive_gradients(zoo, images):
    """With GAP the gradient is constant per channel, so the normalised alphas are uniform and
    Grad-CAM++ reduces to relu(sum_k relu(g_k) A_k)."""
    import keras
    import tensorflow as tf

    model = zoo["image_functional"]
    probe = keras.Model(model.inputs, [model.get_layer("conv_b").output, model.output])
    with tf.GradientTape() as tape:
        A, p = probe([images[:1]], training=False)
        score = tf.math.log(p[0, 2])
    g = tape.gradient(score, A).numpy()[0].mean(axis=(0, 1))
    expected = np.maximum((np.maximum(g, 0) * A.numpy()[0]).sum(-1), 0)
    got = explain(model, images[0], "gradcam_pp", target=2, score="log_p").attributions
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-7)


def test_score_gradient_stays_exact_when_the_probability_rounds_to_one():
    import tensorflow as tf

    from explain.gradients import log_softmax_at

    z = tf.Variable([[30.0, 0.0, -5.0]])
    with tf.GradientTape() as tape:
        s = log_softmax_at(z, tf.constant([0]))
    g = tape.gradient(s, z).numpy()[0]
    p = np.exp(np.array([30.0, 0.0, -5.0]) - 30.0)
    p /= p.sum()
    np.testing.assert_allclose(g, np.array([1.0, 0, 0]) - p, rtol=1e-2)
    assert g[0] > 0  # log_softmax's gradient would give exactly 0 here


# ---- every kind of model ------------------------------------------------------------------------
@pytest.mark.parametrize("model,layer", [("image_functional", "conv_b"), ("image_sequential", "seq_conv"),
                                         ("image_nested", "base_conv2"), ("image_regression", "reg_conv")])
def test_gradcam_works_on_every_image_model(zoo, images, model, layer):
    x = images[0] if model in ("image_functional", "image_nested") else images[0][..., None] / 255
    e = explain(zoo[model], x, "gradcam")
    assert e.attributions.shape == (12, 12)
    assert np.all(np.isfinite(e.attributions)) and e.attributions.min() >= 0
    assert e.meta["layer"] == layer and e.meta["max"] == pytest.approx(e.attributions.max())


def test_nested_backbone_layer_is_found_and_the_model_is_left_untouched(zoo, images):
    model = zoo["image_nested"]
    e = explain(model, images[0], "gradcam")
    assert e.meta["layer_path"] == "backbone/base_conv2"
    first = explain(model, images[0], "gradcam", layer="base_conv1")
    assert first.meta["layer"] == "base_conv1" and not np.allclose(first.attributions, e.attributions)
    for _, layer in L.flatten_layers(model):
        assert "call" not in layer.__dict__


def test_binary_targets_give_different_maps(zoo, images):
    x = images[0][..., None] / 255
    zero = explain(zoo["image_binary"], x, "gradcam", target=0)
    one = explain(zoo["image_binary"], x, "gradcam", target=1)
    assert zero.attributions.shape == one.attributions.shape == (12, 12)
    assert not np.allclose(zero.attributions / zero.attributions.max(), one.attributions / one.attributions.max())


def test_explicit_layer_is_used_and_recorded(zoo, images):
    model = zoo["image_functional"]
    default = explain(model, images[0], "gradcam", target=0)
    early = explain(model, images[0], "gradcam", target=0, layer="conv_a")
    assert default.meta["layer"] == "conv_b" and early.meta["layer"] == "conv_a"
    assert early.params["layer"] == "conv_a"
    assert not np.allclose(default.attributions, early.attributions)


def test_unknown_layer_lists_the_convolutions(zoo, images):
    with pytest.raises(ValueError, match="no layer named 'nope'.*'conv_a', 'conv_b'"):
        explain(zoo["image_functional"], images[0], "gradcam", layer="nope")


@pytest.mark.parametrize("method", ["gradcam", "cam"])
def test_text_maps_give_one_value_per_token_at_the_conv_positions(zoo, method):
    import tensorflow as tf

    from explain.gradients import score_fn
    from explain.predictor import Predictor

    model = zoo["text_model"]
    e = explain(model, "the movie was great", method)
    assert e.labels == ("the", "movie", "was", "great") and e.attributions.shape == (4,)
    assert e.meta["layer"] == "text_conv"
    A, G, _ = L.output_and_gradient(model, model.get_layer("text_conv"), tf.constant(["the movie was great"]),
                                    tf.constant([e.target]), score_fn(Predictor(model), "logit"))
    A, G = A.numpy()[0], G.numpy()[0]
    if method == "gradcam":
        expected = np.maximum(A @ G.mean(axis=0), 0)[:4]
    else:
        w = model.layers[-1].kernel.numpy()[:, 0] * (1 if e.target == 1 else -1)
        expected = (A @ w)[:4]
    np.testing.assert_allclose(e.attributions, expected, rtol=1e-4, atol=1e-7)


# ---- batching, refusals ------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["gradcam", "gradcam_pp", "cam"])
def test_batched_results_equal_single_results(zoo, images, method):
    model = zoo["image_functional"]
    batch = explain_batch(model, images, method, [2, 0, 1])
    for x, t, e in zip(images, [2, 0, 1], batch):
        np.testing.assert_allclose(e.attributions, explain(model, x, method, target=t).attributions, atol=1e-5)
    texts = ["a great and wonderful film", "an awful boring movie with awful acting"]
    batch = explain_batch(zoo["text_model"], texts, method)
    for text, e in zip(texts, batch):
        np.testing.assert_allclose(e.attributions, explain(zoo["text_model"], text, method).attributions, atol=1e-5)


def test_cam_refuses_a_flatten_head_and_points_to_gradcam(zoo, images):
    with pytest.raises(ValueError, match="does not allow plain CAM.*gradcam"):
        explain(zoo["image_sequential"], images[0][..., None], "cam")


def test_cam_methods_refuse_tabular_models(zoo):
    row = z.tabular_data(1)[0]
    for method in ("gradcam", "gradcam_pp", "cam"):
        with pytest.raises(ValueError, match="not tabular inputs"):
            explain(zoo["tabular_linear"], row, method)
