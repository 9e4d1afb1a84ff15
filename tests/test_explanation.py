"""The Explanation contract: exact JSON round trip, equality, reading helpers, shap interop."""
from __future__ import annotations

import json

import numpy as np
import pytest

from explain.explanation import Explanation


def make(**overrides) -> Explanation:
    fields = dict(
        method="kernel_shap", modality="tabular", target=None,
        attributions=np.array([0.1, -2.5, 1 / 3]), data=np.array([1.0, 2.0, 3.0], dtype=np.float32),
        labels=("a", "b", "c"), prediction=np.array([4.2]), base_value=3.1,
        params={"seed": 0, "background": {"array_sha256": "ab", "shape": [5, 3]}},
        meta={"seconds": 0.01, "segments": np.arange(6).reshape(2, 3)}, scores={"deletion_auc": float("nan")},
    )
    fields.update(overrides)
    return Explanation(**fields)


def test_json_round_trip_is_exact() -> None:
    original = make()
    restored = Explanation.from_json(original.to_json())
    assert restored == original
    assert restored.attributions.dtype == np.float64 and restored.data.dtype == np.float32
    assert restored.attributions[2] == 1 / 3  # bit-exact floats, not decimal text
    assert np.array_equal(restored.meta["segments"], np.arange(6).reshape(2, 3))
    assert np.isnan(restored.scores["deletion_auc"])


def test_text_explanation_round_trip() -> None:
    original = make(modality="text", target=1, data=["a", "great", "film"], labels=("a", "great", "film"),
                    attributions=np.array([0.0, 0.9, 0.1]), target_name="positive")
    assert Explanation.from_json(original.to_json()) == original


def test_equality_notices_any_difference() -> None:
    base = make()
    assert base != make(attributions=np.array([0.1, -2.5, 0.3334]))
    assert base != make(params={"seed": 1})
    assert base != make(target_name="x")


def test_save_and_load(tmp_path) -> None:
    path = make().save(tmp_path / "e.json")
    assert Explanation.load(path) == make()
    assert json.loads(path.read_text())["format"] == 1


def test_bad_documents_are_refused() -> None:
    with pytest.raises(ValueError, match="Not an Explanation JSON"):
        Explanation.from_json("{broken")
    with pytest.raises(ValueError, match="unexpected keys"):
        Explanation.from_json(json.dumps({**make().to_dict(), "surprise": 1}))
    with pytest.raises(ValueError, match="format 99"):
        Explanation.from_json(json.dumps({**make().to_dict(), "format": 99}))
    with pytest.raises(ValueError, match="modality"):
        make(modality="audio")


def test_top_and_labels() -> None:
    e = make()
    assert e.top(2) == [("b", -2.5), ("c", pytest.approx(1 / 3))]
    assert e.top(1, by="value") == [("c", pytest.approx(1 / 3))]
    image = make(modality="image", labels=None, attributions=np.array([[0.0, 1.0], [5.0, 0.0]]))
    assert image.top(1) == [("1,0", 5.0)]


def test_to_shap_keeps_values_and_base() -> None:
    shap_explanation = make().to_shap()
    assert np.array_equal(shap_explanation.values, make().attributions)
    assert shap_explanation.base_values == 3.1
    assert list(shap_explanation.feature_names) == ["a", "b", "c"]


def test_tokens_of_a_text_explanation_align_with_its_attributions() -> None:
    text = make(modality="text", labels=("a", "great", "film"), data=["a", "great", "film"])
    assert text.tokens() == ["a", "great", "film"]
    assert make(modality="text", labels=None, data=["x", "y", "z"]).tokens() == ["x", "y", "z"]
    with pytest.raises(ValueError, match="2 tokens but 3 attributions"):
        make(modality="text", labels=("a", "b"), data=["a", "b"]).tokens()
    with pytest.raises(ValueError, match="text explanations"):
        make().tokens()
