"""Bad input gets a clear error; the Predictor knows modality, outputs and targets of any model."""
from __future__ import annotations

import numpy as np
import pytest

import zoo as z
from explain import explain
from explain.inputs import as_batch, check_targets
from explain.predictor import MASK_TOKEN, Predictor


@pytest.fixture(scope="module")
def image_predictor(zoo):
    return Predictor(zoo["image_functional"])


def test_modality_and_output_are_inferred(zoo) -> None:
    expected = {
        "image_functional": ("image", "multiclass", 3), "image_binary": ("image", "binary", 2),
        "image_regression": ("image", "regression", None), "tabular_linear": ("tabular", "regression", None),
        "tabular_classifier": ("tabular", "multiclass", 3), "text_model": ("text", "binary", 2),
    }
    for name, (modality, output, n_classes) in expected.items():
        predictor = Predictor(zoo[name])
        assert (predictor.modality, predictor.output, predictor.n_classes) == (modality, output, n_classes), name


def test_predict_batches_through_one_compiled_function(zoo, images) -> None:
    predictor = Predictor(zoo["image_functional"], batch_size=2)
    many = np.concatenate([images] * 3)  # 9 images -> 5 batches of 2
    out = predictor.predict(many)
    assert out.shape == (9, 3) and predictor.calls == 5 and predictor.evaluations == 9
    assert np.allclose(out, zoo["image_functional"].predict(many, verbose=0), atol=1e-6)


def test_binary_target_scores_are_complementary(zoo, images) -> None:
    predictor = Predictor(zoo["image_binary"])
    outputs = predictor.predict(images[..., None])
    assert np.allclose(predictor.target_scores(outputs, 0) + predictor.target_scores(outputs, 1), 1.0)


def test_text_view_uses_the_models_own_tokenizer_and_window(zoo) -> None:
    predictor = Predictor(zoo["text_model"])
    view = predictor.text_view("A GREAT film, truly!")
    assert view.tokens == ("a", "great", "film", "truly") and view.dropped == 0
    long = predictor.text_view(" ".join(["film"] * 20))
    assert len(long.tokens) == predictor.window == 12 and long.dropped == 8
    assert Predictor.join_tokens(["a", "b"], np.array([True, False])) == f"a {MASK_TOKEN}"
    # Joined tokens read back as the same tokens: perturbations keep positions.
    assert predictor.text_view(Predictor.join_tokens(view.tokens)).tokens == view.tokens


def test_plain_functions_need_a_modality_and_class_names_for_multiclass() -> None:
    with pytest.raises(ValueError, match="modality="):
        Predictor(z.linear_function)
    with pytest.raises(ValueError, match="class_names"):
        Predictor(z.linear_function, modality="tabular", output="multiclass")
    predictor = Predictor(z.keyword_function, modality="text", class_names=["negative", "positive"])
    assert predictor.output == "binary" and predictor.keras_model is None
    with pytest.raises(TypeError, match="Keras model"):
        Predictor(42)


def test_missing_background_is_a_clear_error(zoo) -> None:
    with pytest.raises(ValueError, match="background="):
        Predictor(zoo["tabular_linear"]).require_background("kernel_shap")
    assert Predictor(zoo["tabular_linear"], background=lambda: np.zeros((2, 4))).background.shape == (2, 4)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.zeros((12, 13)), ValueError, r"Expected one input of shape \(12, 12\)"),
        (np.zeros((2, 12, 12, 3)), ValueError, "got shape"),
        (np.array([[np.nan] * 12] * 12), ValueError, "NaN or infinite"),
        (np.full((12, 12), np.inf), ValueError, "NaN or infinite"),
        (np.zeros((0, 12, 12)), ValueError, "empty"),
        (np.array([["a"] * 12] * 12), TypeError, "numeric"),
        ("a string", TypeError, "not text"),
    ],
)
def test_bad_image_inputs(image_predictor, bad, error, message) -> None:
    with pytest.raises(error, match=message):
        as_batch(image_predictor, bad)


def test_bad_text_inputs(zoo) -> None:
    predictor = Predictor(zoo["text_model"])
    with pytest.raises(ValueError, match="empty once tokenized"):
        as_batch(predictor, "   ")
    with pytest.raises(ValueError, match="empty once tokenized"):
        as_batch(predictor, "?!,.")
    with pytest.raises(TypeError, match="not a string"):
        as_batch(predictor, ["fine", 3])
    with pytest.raises(ValueError, match="No texts"):
        as_batch(predictor, [])
    with pytest.raises(ValueError, match=r"reads only the first 12; the last 8 are ignored.*truncate=True"):
        as_batch(predictor, " ".join(["film"] * 20))
    views, single = as_batch(predictor, " ".join(["film"] * 20), truncate=True)
    assert single and len(views[0].tokens) == 12


def test_target_checks(zoo) -> None:
    with pytest.raises(ValueError, match="out of range.*3 classes, 0 to 2"):
        check_targets(Predictor(zoo["image_functional"]), [3])
    with pytest.raises(ValueError, match="regression model: target must be None"):
        check_targets(Predictor(zoo["tabular_linear"]), [0])
    with pytest.raises(TypeError, match="class index"):
        check_targets(Predictor(zoo["image_binary"]), ["1"])
    check_targets(Predictor(zoo["image_binary"]), [0, 1])


def test_unknown_method_lists_the_known_ones(zoo, images) -> None:
    with pytest.raises(ValueError, match="Unknown method 'magic'; known methods: .*gradcam"):
        explain(zoo["image_functional"], images[0], "magic")


def test_method_that_does_not_apply_says_so(zoo) -> None:
    with pytest.raises(ValueError, match="not tabular inputs.*Methods for this model: .*kernel_shap"):
        explain(zoo["tabular_linear"], np.zeros(4), "gradcam")
    with pytest.raises(ValueError, match="needs a Keras model"):
        explain(Predictor(z.keyword_function, modality="text", class_names=["n", "p"]), "great film", "gradcam")


def test_unknown_parameter_lists_the_accepted_ones(zoo, images) -> None:
    with pytest.raises(TypeError, match="accepts: .*layer"):
        explain(zoo["image_functional"], images[0], "gradcam", colour="red")
