"""Global summaries from many explanations, on hand-made explanations whose summaries are known."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from explain import Explanation, global_view


def make(modality: str, attributions: Any, data: Any, target: int | None, labels: Any = None,
         method: str = "m") -> Explanation:
    return Explanation(method=method, modality=modality, target=target, attributions=np.asarray(attributions, float),
                       data=data, labels=tuple(labels) if labels is not None else None,
                       prediction=np.array([0.25, 0.75]), base_value=None, params={"seed": 0},
                       target_name=None if target is None else f"class {target}")


def test_mean_map_per_class_averages_maps_and_images_of_each_class() -> None:
    ones, zeros = np.ones((2, 2)), np.zeros((2, 2))
    items = [make("image", ones, ones * 10, 1), make("image", zeros, zeros, 1), make("image", -ones, ones * 4, 0)]
    means = global_view.mean_map_per_class(items)
    assert list(means) == [0, 1]
    np.testing.assert_allclose(means[1].attributions, 0.5 * ones)
    np.testing.assert_allclose(means[1].data, 5 * ones)
    np.testing.assert_allclose(means[0].attributions, -ones)
    assert means[1].meta["n"] == 2 and means[0].meta["n"] == 1
    assert means[1].target_name == "class 1" and means[1].method == "m"
    assert Explanation.from_json(means[1].to_json()) == means[1]  # a real Explanation: render, save, report it


def test_top_tokens_rank_by_mean_attribution_and_drop_rare_words() -> None:
    items = [
        make("text", [0.9, 0.1, 0.5], ["great", "film", "fun"], 1, labels=["great", "film", "fun"]),
        make("text", [0.7, 0.3, 5.0], ["great", "film", "rare"], 1, labels=["great", "film", "rare"]),
        make("text", [0.6, -0.2], ["awful", "film"], 0, labels=["awful", "film"]),
        make("text", [0.4, 0.0], ["awful", "great"], 0, labels=["awful", "great"]),
    ]
    frame = global_view.top_tokens_per_class(items, k=5, min_count=2)
    positive = frame[frame["target"] == 1]
    assert list(positive["token"]) == ["great", "film"]  # "rare" (once) and "fun" (once) are left out
    assert positive["mean_attribution"].tolist() == pytest.approx([0.8, 0.2])
    assert positive["count"].tolist() == [2, 2]
    negative = frame[frame["target"] == 0]
    assert list(negative["token"]) == ["awful"] and set(negative["class"]) == {"class 0"}
    assert list(global_view.top_tokens_per_class(items, k=1, min_count=1)["token"]) == ["awful", "rare"]


def tabular_items() -> list[Explanation]:
    names = ["income", "age"]
    return [make("tabular", [2.0, -1.0], np.array([10.0, 30.0]), None, names),
            make("tabular", [-4.0, 0.0], np.array([20.0, 50.0]), None, names),
            make("tabular", [0.0, 1.0], np.array([30.0, 40.0]), None, names)]


def test_feature_importance_is_mean_absolute_attribution_largest_first() -> None:
    frame = global_view.feature_importance(tabular_items())
    assert list(frame["feature"]) == ["income", "age"]
    assert frame["mean_abs"].tolist() == pytest.approx([2.0, 2 / 3])
    assert frame["mean"].tolist() == pytest.approx([-2 / 3, 0.0])


def test_summary_frame_has_one_line_per_row_and_feature_with_value_percentiles() -> None:
    frame = global_view.summary_frame(tabular_items())
    assert len(frame) == 6
    income = frame[frame["feature"] == "income"]
    assert income["value"].tolist() == [10.0, 20.0, 30.0]
    assert income["value_rank"].tolist() == [0.0, 0.5, 1.0]
    assert income["attribution"].tolist() == [2.0, -4.0, 0.0]
    assert frame[frame["feature"] == "age"]["value_rank"].tolist() == [0.0, 1.0, 0.5]


@pytest.mark.parametrize("items, message", [
    ([], "No explanations"),
    ([make("image", np.ones((2, 2)), np.ones((2, 2)), 0), make("image", np.ones((2, 2)), np.ones((2, 2)), 0, method="x")],
     "one method at a time"),
    ([make("tabular", [1.0], np.array([1.0]), None)], "Expected image explanations"),
    ([make("image", np.ones((2, 2)), np.ones((2, 2)), 0), make("image", np.ones((3, 3)), np.ones((3, 3)), 0)],
     "different shapes"),
])
def test_mixed_or_empty_inputs_are_refused(items: list[Explanation], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        global_view.mean_map_per_class(items)
