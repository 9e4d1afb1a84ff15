"""The Explanation contract: exact JSON round trip, equality, reading helpers, shap interop."""
from __future__ import annotations

import json

import numpy as np
import pytest

from explain import arrays
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
    assert json.loads(path.read_text())["format"] == 2


def _format_1(e: Explanation) -> str:
    """The document format 1 wrote: every array as plain base64 of its bytes."""
    import base64

    def plain(value):
        if isinstance(value, dict) and value.get("__ndarray__") in ("b64", "zshuffle"):
            array = arrays.decode(value)
            return {"__ndarray__": "b64", "dtype": array.dtype.str, "shape": list(array.shape),
                    "data": base64.b64encode(array.tobytes()).decode("ascii")}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return [plain(v) for v in value] if isinstance(value, list) else value

    return json.dumps({**plain(e.to_dict()), "format": 1})


def test_documents_of_format_1_still_load_and_arrays_round_trip_bit_exactly() -> None:
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(size=(28, 28)), axis=1)
    e = make(attributions=smooth, data=rng.uniform(0, 255, (28, 28)).astype(np.float32))
    old = _format_1(e)
    assert Explanation.from_json(old) == e == Explanation.from_json(e.to_json())
    assert np.array_equal(Explanation.from_json(e.to_json()).attributions, smooth)  # bit for bit, not approximately
    assert len(e.to_json()) < len(old)
    for array in (np.arange(7, dtype=np.int16), np.zeros((0, 3)), np.array([np.nan, -np.inf, 1e-310]),
                  rng.normal(size=(5, 9)).astype(np.float16), rng.normal(size=300) + 1j):
        back = arrays.decode(json.loads(json.dumps(arrays.encode(array))))
        assert back.dtype == array.dtype and back.shape == array.shape
        assert np.array_equal(back, array, equal_nan=True)


def test_compressed_data_cannot_inflate_beyond_its_declared_shape() -> None:
    import base64
    import zlib

    bomb = {"__ndarray__": "zshuffle", "dtype": "<f8", "shape": [4],
            "data": base64.b64encode(zlib.compress(b"\0" * (64 << 20))).decode("ascii")}
    with pytest.raises(ValueError, match="does not hold the 32 bytes its shape"):
        arrays.decode(bomb)
    with pytest.raises(ValueError, match="unknown array encoding 'lzma'"):
        arrays.decode({**bomb, "__ndarray__": "lzma"})


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
