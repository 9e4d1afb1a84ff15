"""The explanation engine on the real reference models (trained once per session by conftest)."""
from __future__ import annotations

import numpy as np
import pytest

import models
from explain import available, explain, explain_batch, metrics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def refs(real_models):
    models_dir, _ = real_models
    return {name: models.load(name, models_dir) for name in ("mnist_cnn", "imdb_cnn", "housing_mlp")}


def test_available_methods_per_reference_model(refs) -> None:
    assert {"gradcam", "lime_image", "gradient_shap", "partition_shap"} <= set(available(refs["mnist_cnn"]))
    assert {"gradcam", "lime_text", "partition_shap"} <= set(available(refs["imdb_cnn"]))
    housing = set(available(refs["housing_mlp"]))
    assert {"lime_tabular", "kernel_shap", "exact_shap"} <= housing and "gradcam" not in housing


def test_gradcam_on_mnist_beats_random_deletion(refs) -> None:
    ref = refs["mnist_cnn"]
    x, _ = ref.test_split(limit=20)
    explanations = explain_batch(ref, x, "gradcam")
    gains = [c.gain for c in metrics.deletion(ref, explanations)]
    assert np.mean(gains) > 0.1
    assert all(e.meta["layer"] == "last_conv" for e in explanations)


def test_lime_image_on_a_digit_uses_many_segments(refs) -> None:
    ref = refs["mnist_cnn"]
    x, y = ref.test_split(limit=1)
    e = explain(ref, x[0], "lime_image", seed=0)
    assert e.target == int(np.argmax(e.prediction))
    assert len(np.unique(e.meta["segments"])) > 10  # quickshift would give one segment here


def test_text_explanations_point_at_sentiment_words(refs) -> None:
    ref = refs["imdb_cnn"]
    review = "a wonderful film with brilliant acting and a moving story i loved it"
    for method in ("lime_text", "partition_shap", "gradcam"):
        e = explain(ref, review, method, target=1)
        top = [token for token, _ in e.top(3, by="value")]
        assert set(top) & {"wonderful", "brilliant", "loved", "moving"}, (method, top)


def test_long_review_needs_truncate_and_then_says_what_was_dropped(refs) -> None:
    ref = refs["imdb_cnn"]
    review = " ".join(["good"] * 450)
    with pytest.raises(ValueError, match="reads only the first 400"):
        explain(ref, review, "gradcam")
    e = explain(ref, review, "gradcam", truncate=True)
    assert len(e.attributions) == 400 and e.meta["tokens_beyond_window"] == 50


def test_housing_shap_is_additive_in_dollars(refs) -> None:
    ref = refs["housing_mlp"]
    x, _ = ref.test_split(limit=5)
    for method, tolerance in (("exact_shap", 1e-6), ("kernel_shap", 1e-6)):
        for e in explain_batch(ref, x, method):
            error = metrics.additivity(ref, e)["additivity_error"]
            assert error <= tolerance * max(1.0, abs(float(e.prediction[0]))), (method, error)
            assert e.labels[-1] == "median_income"
