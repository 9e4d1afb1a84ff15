"""Output kinds: every form of binary head explains the same class, logits are never called probabilities."""
from __future__ import annotations

import numpy as np
import pytest

import zoo as z
from explain import render
from explain.api import explain
from explain.predictor import Predictor


@pytest.fixture(scope="module")
def row():
    return z.tabular_data(1, seed=21)[0]


def test_binary_heads_of_every_form_explain_the_same_class(row):
    """One sigmoid column, a two-column predict_proba function and a two-unit softmax model: same p, same SHAP."""
    background = z.tabular_data(30, seed=22)
    forms = [
        Predictor(z.sigmoid_function, modality="tabular", class_names=["neg", "pos"], background=background),
        Predictor(z.predict_proba_function, modality="tabular", class_names=["neg", "pos"], background=background),
        Predictor(z.tabular_two_column(), background=background, class_names=["neg", "pos"]),
    ]
    results = [explain(p, row, "kernel_shap", target=1, nsamples=64) for p in forms]
    p1 = [float(p.target_scores(p.predict(row[None]), 1)[0]) for p in forms]
    np.testing.assert_allclose(p1, p1[0], rtol=1e-5)
    for e in results[1:]:
        np.testing.assert_allclose(e.attributions, results[0].attributions, rtol=1e-3, atol=1e-5)
    for e, p in zip(results, p1):  # the attributions add up to p(pos), the class named in the caption
        assert e.attributions.sum() + e.base_value == pytest.approx(p, abs=1e-4)
        assert e.target_name == "pos" and "pos" in e.meta["explained_output"]
    two_column = explain(forms[1], row, "kernel_shap", target=0, nsamples=64)
    assert two_column.attributions.sum() + two_column.base_value == pytest.approx(1 - p1[0], abs=1e-4)


def test_logits_head_is_detected_labelled_and_gradcam_is_not_clipped(images):
    model = z.image_logits()
    predictor = Predictor(model)
    assert (predictor.output, predictor.output_scale) == ("multiclass", "logit")
    x = images[..., None] * 10  # large logits, far outside (0, 1)
    e = explain(predictor, x[0], "gradcam")
    assert e.meta["explained_output"].startswith("logit of class") and "probability" not in e.meta["explained_output"]
    assert "logit =" in render.caption(e) and "p =" not in render.caption(e)
    maps = [explain(predictor, x[0], "gradcam", target=t).attributions for t in range(3)]
    assert any(m.max() > 0 for m in maps)


def test_an_unannotated_linear_head_of_several_units_is_refused_until_declared():
    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="logits of 2 classes, or 2 regression targets"):
        Predictor(model)
    regression = Predictor(model, output="regression")
    assert regression.output == "regression" and regression.n_classes is None
    assert Predictor(model, output="logits").output_scale == "logit"
    with pytest.raises(ValueError, match="2 outputs; pass target"):
        explain(regression, np.ones(3), "kernel_shap", background=np.zeros((4, 3)))
    e = explain(regression, np.ones(3), "kernel_shap", target=1, background=np.zeros((4, 3)))
    assert e.meta["explained_output"] == "model output 1"


def test_multi_output_models_are_explained_one_head_at_a_time():
    import keras

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(5, activation="relu")(inputs)
    model = keras.Model(inputs, {"kind": keras.layers.Dense(3, activation="softmax", name="kind")(hidden),
                                 "price": keras.layers.Dense(1, name="price")(hidden)})
    with pytest.raises(ValueError, match="0: 'kind', 1: 'price'.*output_head="):
        Predictor(model)
    kind = Predictor(model, output_head="kind")
    price = Predictor(model, output_head="price")
    assert (kind.output, price.output) == ("multiclass", "regression")
    x = np.ones(4, dtype=np.float32)
    assert explain(price, x, "integrated_gradients").attributions.shape == (4,)
    with pytest.raises(ValueError, match="not one of the model's outputs"):
        Predictor(model, output_head="colour")


def _image_and_meta_model():
    import keras

    image, meta = keras.Input((6, 6, 1), name="image"), keras.Input((2,), name="meta")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3, activation="relu", name="img_conv")(image))
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Concatenate()([x, meta]))
    return keras.Model([image, meta], out, name="image_and_meta")


def test_one_input_of_a_multi_input_model_is_explained_with_the_others_held():
    model = _image_and_meta_model()
    meta = np.array([0.5, -1.0], dtype=np.float32)
    predictor = Predictor(model, explained_input="image", held_inputs={"meta": meta})
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 1)).astype(np.float32)
    expected = np.asarray(model([x, np.tile(meta, (3, 1))]))
    np.testing.assert_allclose(predictor.predict(x), expected, rtol=1e-6)
    assert predictor.modality == "image" and predictor.input_shape == (6, 6, 1)
    for method in ("gradcam", "integrated_gradients", "occlusion"):
        assert explain(predictor, x[0], method).attributions.shape == (6, 6)
    other = Predictor(model, explained_input="image", held_inputs={"meta": meta + 1})
    assert other.fingerprint != predictor.fingerprint  # the held values are part of every store key
    with pytest.raises(ValueError, match="value for each of \\['meta'\\]"):
        Predictor(model, explained_input="image")
    with pytest.raises(ValueError, match="held_inputs\\['meta'\\] has shape"):
        Predictor(model, explained_input=0, held_inputs={"meta": np.zeros(3)})


def test_multi_input_and_unbuilt_models_get_a_message_that_says_what_to_do():
    import keras

    a, b = keras.Input((3,), name="image_meta"), keras.Input((2,), name="extra")
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(ValueError, match="takes 2 inputs.*held fixed"):
        Predictor(model)
    with pytest.raises(ValueError, match="not built yet"):
        Predictor(keras.Sequential([keras.layers.Dense(2)]))


def test_cam_methods_are_not_offered_for_models_without_a_convolution(zoo):
    from explain import available

    offered = available(z.lstm_text_model())
    assert not {"gradcam", "gradcam_pp", "cam"} & set(offered)
    assert {"integrated_gradients", "saliency", "lime_text", "occlusion"} <= set(offered)


def test_a_token_id_model_needs_its_tokenizer_and_then_explains_words():
    from explain import available

    model, vocabulary = z.token_model(), z.corpus_vocabulary()
    with pytest.raises(ValueError, match="reads token ids.*tokenizer="):
        Predictor(model)
    predictor = Predictor(model, tokenizer=vocabulary, class_names=["neg", "pos"])
    assert predictor.modality == "text" and predictor.window == 12
    text = "a great and wonderful film"
    ids = np.array([[vocabulary.index(w) for w in text.split()] + [0] * 7], dtype=np.int32)
    np.testing.assert_allclose(predictor.predict([text]), np.asarray(model(ids)), rtol=1e-6)
    assert {"gradcam", "lime_text", "integrated_gradients", "partition_shap"} <= set(available(predictor))
    for method in ("gradcam", "integrated_gradients", "lime_text"):
        e = explain(predictor, text, method, **({"num_samples": 100} if method == "lime_text" else {}))
        assert e.labels == tuple(text.split()) and e.attributions.shape == (5,)
    with pytest.raises(TypeError, match="TextVectorization layer, a vocabulary list.*got int"):
        Predictor(model, tokenizer=5)


def test_a_python_tokenizer_function_gives_the_same_model_and_model_agnostic_explanations():
    from explain import available

    model, vocabulary = z.token_model(), z.corpus_vocabulary()
    by_function = Predictor(model, tokenizer=z.python_tokenizer(vocabulary), class_names=["neg", "pos"])
    by_vocabulary = Predictor(model, tokenizer=vocabulary, class_names=["neg", "pos"])
    texts = ["a great and wonderful film", "dull boring plot"]
    np.testing.assert_allclose(by_function.predict(texts), by_vocabulary.predict(texts), rtol=1e-6)
    assert by_function.modality == "text" and by_function.output == "binary"
    usable = set(available(by_function))
    assert {"lime_text", "partition_shap"} <= usable and not {"gradcam", "integrated_gradients"} & usable
    a = explain(by_function, texts[0], "lime_text", num_samples=200, seed=0)
    b = explain(by_vocabulary, texts[0], "lime_text", num_samples=200, seed=0)
    np.testing.assert_allclose(a.attributions, b.attributions, atol=1e-6)
    with pytest.raises(ValueError, match="Python tokenizer function runs outside the Keras graph.*vocabulary list"):
        explain(by_function, texts[0], "gradcam")


def test_a_wrong_python_tokenizer_is_refused_when_the_predictor_is_made():
    model = z.token_model()
    with pytest.raises(ValueError, match="returns 5 tokens per text but model 'token_model' reads 12"):
        Predictor(model, tokenizer=lambda texts: np.ones((len(texts), 5), dtype=np.int32))
    with pytest.raises(ValueError, match="integer token ids of shape"):
        Predictor(model, tokenizer=lambda texts: texts)


def test_two_column_softmax_logit_score_is_the_log_odds_so_no_class_gets_a_zero_map(row):
    """Class 0's logit of this head has zero weights: its plain logit gradient would be an all-zero map."""
    model = z.tabular_two_column()
    zero = explain(model, row, "gradient_x_input", target=0)
    one = explain(model, row, "gradient_x_input", target=1)
    np.testing.assert_allclose(one.attributions, z.LINEAR_WEIGHTS * row, rtol=1e-5)  # log-odds = w . x + b
    np.testing.assert_allclose(zero.attributions, -one.attributions, rtol=1e-5)
    assert zero.meta["score"].startswith("log-odds")
