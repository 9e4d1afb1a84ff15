"""The faithfulness badge on hand-made explanations whose right answers are known (tiny models, no training)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import zoo as Z
from explain import explain, explain_batch
from explain import metrics as M
from explain.evaluation import badge as B
from explain.evaluation.baselines import BASELINE_METHOD, baseline_explanation, input_only_map
from explain.explanation import Explanation
from explain.predictor import Predictor
from test_metrics import REGION, explanation


@pytest.fixture(scope="module")
def hot(zoo):
    """The hot-region model on an image whose strongest edges lie OUTSIDE the region the model reads."""
    image = Z.hot_region_image()
    image[8:11, 1:11, 0] = 1.0  # a bright bar: edges the model ignores
    return Predictor(zoo["hot_region"], batch_size=4096), image


# ---- the input-only maps -------------------------------------------------------------------------------
def test_edge_map_marks_borders_and_not_flat_areas(hot) -> None:
    predictor, image = hot
    e = explanation(predictor, image, REGION, 1)
    edges = input_only_map(e)
    assert edges.shape == Z.IMAGE_SHAPE
    assert edges[3, 3] == 0 and edges[0, 11] == 0  # inside the flat square, and a flat corner
    assert edges[1, 3] > 0 and edges[7, 5] > 0  # just above the square, just above the bar
    rgb = np.repeat(image, 3, axis=-1)
    assert np.allclose(input_only_map(explanation(Predictor(lambda x: np.ones((len(x), 1)), modality="image",
                                                            output="regression"), rgb, REGION, None)), edges)


def test_token_rarity_ranks_repeated_tokens_last_and_breaks_ties_by_position() -> None:
    tokens = "great film and great acting but awful plot".split()
    e = Explanation("hand", "text", 1, np.zeros(len(tokens)), tokens, tuple(tokens), np.array([0.5, 0.5]), None, {})
    values = input_only_map(e)
    order = [tokens[i] for i in np.argsort(-values, kind="stable")]
    assert order == ["film", "and", "acting", "but", "awful", "plot", "great", "great"]
    assert values[1] > values[2] > values[0] and values[0] > values[3]


def test_feature_deviation_is_distance_in_background_standard_deviations() -> None:
    background = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0]])
    e = Explanation("hand", "tabular", None, np.zeros(3), np.array([3.0, 9.0, 2.0]), None, np.array([1.0]), None, {})
    assert np.allclose(input_only_map(e, background), [2.0, 0.0, 0.0])  # a constant feature deviates by 0
    with pytest.raises(ValueError, match="background="):
        input_only_map(e)


def test_baseline_explanation_drops_segments_and_scores() -> None:
    e = Explanation("lime_image", "image", 0, np.ones((4, 4)), np.zeros((4, 4, 1)), None, np.array([1.0]), None, {},
                    meta={"segments": np.zeros((4, 4), int), "runtime_s": 1.0}, scores={"deletion_auc": 0.1})
    reference = baseline_explanation(e)
    assert reference.method == BASELINE_METHOD and "segments" not in reference.meta and not reference.scores
    assert reference.meta["runtime_s"] == 1.0


# ---- verdicts ----------------------------------------------------------------------------------------
def test_true_map_beats_random_and_edges_and_the_edge_map_itself_does_not_beat_edges(hot) -> None:
    predictor, image = hot
    good = explanation(predictor, image, REGION, 1)
    edges = explanation(predictor, image, input_only_map(good), 1)
    anti = explanation(predictor, image, -REGION, 1)
    badges = M.badge(predictor, [good, edges, anti])
    assert badges[0].level == "beats random and edges" and badges[0].passes("beats random")
    assert {m.metric for m in badges[0].metrics} == {"deletion", "road_morf", "road_lerf"}
    assert all(m.level == "beats random and edges" for m in badges[0].metrics if m.metric in B.VERDICT_METRICS)
    lerf = next(m for m in badges[0].metrics if m.metric == "road_lerf")
    assert lerf.auc > lerf.random_mean  # shown, and right in direction, though too saturated to vote
    assert badges[1].level in ("no better than edges", "inconclusive") and not badges[1].passes("beats random and edges")
    assert badges[2].level == "no better than random" and not badges[2].passes("beats random")
    assert "worse than every random order" in " ".join(badges[2].reasons)


def test_a_curve_that_never_moves_is_inconclusive_never_a_pass() -> None:
    flat = Predictor(lambda x: np.full((len(x), 2), 0.5), modality="image", class_names=["a", "b"])
    e = explanation(flat, Z.hot_region_image(), REGION, 1)
    (badge,) = M.badge(flat, [e])
    assert badge.level == "inconclusive" and not badge.passes("beats random") and badge.passes("no better than random")
    assert all("never moved" in reason for reason in badge.reasons)


def test_text_badge_uses_deletion_only_and_names_its_baseline() -> None:
    predictor = Predictor(Z.keyword_function, modality="text", class_names=["negative", "positive"])
    tokens = "great film and great acting but awful plot".split()
    good = np.array([1.0 if t == "great" else -1.0 if t == "awful" else 0.0 for t in tokens])
    (badge,) = M.badge(predictor, [explanation(predictor, tokens, good, 1, labels=tuple(tokens))], n_random=8)
    assert [m.metric for m in badge.metrics] == ["deletion"]
    assert badge.verdict == "beats random and token rarity" and badge.passes("beats random and token rarity")
    assert "token rarity" in badge.how_to_read()


def test_tabular_badge_on_a_linear_model(zoo) -> None:
    background = Z.tabular_data(200, seed=3)
    predictor = Predictor(zoo["tabular_linear"], background=background)
    row = np.array([2.0, -2.0, 1.0, 3.0], dtype=np.float32)
    true = Z.LINEAR_WEIGHTS * (row - background.mean(axis=0))  # exact SHAP values of a linear model
    good, anti = (explanation(predictor, row, a, None) for a in (true, -true))
    badges = M.badge(predictor, [good, anti], n_random=8)
    assert badges[0].passes("beats random"), badges[0].reasons
    assert not badges[1].passes("beats random")
    assert badges[0].verdict.endswith("feature deviation")


def test_badge_rides_in_scores_survives_json_and_reads_back_in_words(hot) -> None:
    predictor, image = hot
    e = explanation(predictor, image, REGION, 1)
    (scored,) = M.score_explanations(predictor, [e], metrics=["deletion", "badge"])
    assert all(isinstance(v, float) for v in scored.scores.values())
    again = Explanation.from_json(scored.to_json())
    badge = B.from_scores("image", dict(again.scores))
    assert badge == M.badge(predictor, [e])[0]  # the reused deletion curves give the same badge
    assert json.loads(scored.to_json())["scores"]["badge_level"] == 3.0
    with pytest.raises(ValueError, match="scores=\\['badge'\\]"):
        B.from_scores("image", {"deletion_auc": 0.2})


def test_explain_with_badge_scores_through_the_api(zoo) -> None:
    predictor = Predictor(zoo["tabular_linear"], background=Z.tabular_data(100, seed=3))
    e = explain(predictor, np.array([2.0, -2.0, 1.0, 3.0], np.float32), "kernel_shap", scores=["deletion", "badge"],
                nsamples=200, seed=0)
    assert "badge_level" in e.scores and "deletion_auc" in e.scores
    assert B.from_scores("tabular", dict(e.scores)).passes("beats random")


def test_levels_and_their_words() -> None:
    assert B.level_of("Beats random") == "no better than edges"
    assert B.level_of("beats random and token rarity", "text") == "beats random and edges"
    with pytest.raises(ValueError, match="levels from worst to best"):
        B.level_of("excellent")
    with pytest.raises(ValueError, match="n_random must be at least 2"):
        M.badge(Predictor(lambda x: np.ones((len(x), 1)), modality="tabular", output="regression",
                          background=np.zeros((2, 2))), [], n_random=1)


def test_seed_bootstrap_counts_stable_seeds(zoo) -> None:
    images = np.random.default_rng(0).uniform(size=(2,) + Z.IMAGE_SHAPE).astype(np.float32)
    predictor = Predictor(zoo["image_functional"])
    from test_metrics import InputItself, Noise

    steady = M.seed_bootstrap(predictor, images, InputItself(), n_seeds=4)
    assert [r["stable_seeds"] for r in steady] == [4.0, 4.0] and steady[0]["topk_overlap_mean"] == 1.0
    shaky = M.seed_bootstrap(predictor, images, Noise(), n_seeds=4)
    assert all(r["stable_seeds"] < 2 for r in shaky)
    scores = B.with_stability({"badge_level": 3.0}, 9, 10, 5)
    assert B.from_scores("image", scores).words == "beats random and edges, stable"
    assert B.from_scores("image", B.with_stability({"badge_level": 3.0}, 6, 10, 5)).words == \
        "beats random and edges, unstable (top-5 stable in 6 of 10 seeds)"
    with pytest.raises(ValueError, match="deterministic"):
        M.seed_bootstrap(predictor, images, "gradcam")


def test_explain_batch_does_not_compute_the_badge_unless_asked(zoo) -> None:
    predictor = Predictor(zoo["tabular_linear"], background=Z.tabular_data(50, seed=3))
    (e,) = explain_batch(predictor, Z.tabular_data(1), "kernel_shap", scores=True, nsamples=100, seed=0)
    assert "deletion_auc" in e.scores and not any(k.startswith("badge_") for k in e.scores)
