"""Audits: rows built from explain_batch and its scores, summaries with known answers, resuming, errors, Dask, CLI."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import zoo as Z
from explain import Predictor, as_predictor, audit, audit_summary, explain_batch
from explain.cli import main
from explain.methods.base import Attribution, Method

FEATURES = ("rooms", "age", "income", "noise")
HOT, COLD = "rows 0-2, cols 9-11", "rows 9-11, cols 0-2"  # regions of a 12 x 12 image on a 4 x 4 grid


@dataclass
class Known(Method):
    """Attributions known by hand, counting the inputs it computes (an instance: never registered).

    Images: +1 on rows 0-2 x cols 9-11, -0.5 on rows 9-11 x cols 0-2.  Rows: x * LINEAR_WEIGHTS, base LINEAR_BIAS.
    """

    name = "test_known"
    modalities = ("image", "tabular")
    calls: ClassVar[list[int]] = []
    fail_after: ClassVar[int | None] = None  # raise on the call after this many

    def attribute(self, predictor, inputs, targets):
        if Known.fail_after is not None and len(Known.calls) >= Known.fail_after:
            raise RuntimeError("interrupted")
        Known.calls.append(len(inputs))
        if predictor.modality == "tabular":
            return [Attribution(attributions=np.asarray(x, dtype=np.float64) * Z.LINEAR_WEIGHTS, base_value=Z.LINEAR_BIAS)
                    for x in inputs]  # exactly additive on Z.tabular_linear
        planted = np.zeros(Z.IMAGE_SHAPE)
        planted[0:3, 9:12], planted[9:12, 0:3] = 1.0, -0.5
        return [Attribution(attributions=planted.copy()) for _ in inputs]


@pytest.fixture(autouse=True)
def reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLAIN_STORE", raising=False)
    Known.calls, Known.fail_after = [], None


@pytest.fixture(scope="module")
def linear() -> Predictor:
    return Predictor(Z.tabular_linear(), feature_names=FEATURES, background=Z.tabular_data(30, seed=5))


# ---- rows ----------------------------------------------------------------------------------------------
def test_classifier_rows_hold_prediction_label_top_regions_and_scores(zoo, images, tmp_path: Path) -> None:
    predictor = as_predictor(zoo["image_functional"])
    labels = np.array([0, 1, 2])
    frame = audit(predictor, images, labels, methods=["gradcam", Known()], top_k=2, store=tmp_path / "s.sqlite",
                  progress=False)
    assert list(zip(frame["input"], frame["method"])) == [(i, m) for i in range(3) for m in ("gradcam", "test_known")]
    outputs = predictor.predict(images)
    expected = np.repeat(outputs.argmax(axis=1), 2)
    assert frame["predicted"].tolist() == expected.tolist() and frame["target"].tolist() == expected.tolist()
    np.testing.assert_allclose(frame["probability"], np.repeat(outputs.max(axis=1), 2), rtol=1e-6)
    assert frame["correct"].tolist() == (expected == np.repeat(labels, 2)).tolist()
    known = frame[frame["method"] == "test_known"]
    assert known["top_features"].map(list).tolist() == [[HOT, COLD]] * 3
    assert known["top_values"].map(list).tolist() == [[1.0, -0.5]] * 3
    scored = explain_batch(predictor, images, "gradcam", scores=["deletion"])
    gradcam = frame[frame["method"] == "gradcam"]
    for column in ("deletion_auc", "deletion_random_auc", "deletion_gain"):
        np.testing.assert_allclose(gradcam[column], [e.scores[column] for e in scored], rtol=1e-5)
    assert (frame["seconds"] > 0).all()


def test_regression_rows_hold_value_error_and_top_features(linear: Predictor) -> None:
    x = np.ones((3, 4), dtype=np.float32)
    y = np.array([1.0, 1.75, 3.0])
    frame = audit(linear, x, y, methods=Known(), metrics=["deletion", "additivity"], top_k=2, store=None, progress=False)
    value = float(Z.LINEAR_WEIGHTS.sum() + Z.LINEAR_BIAS)  # 1.75
    np.testing.assert_allclose(frame["prediction"], value, rtol=1e-6)
    np.testing.assert_allclose(frame["error"], value - y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(frame["abs_error"], np.abs(value - y), rtol=1e-6, atol=1e-6)
    assert frame["top_features"].map(list).tolist() == [["rooms", "age"]] * 3
    assert frame["top_values"].map(list).tolist() == [[2.0, -1.0]] * 3
    assert frame["target"].isna().all() and "correct" not in frame
    np.testing.assert_allclose(frame["additivity_error"], 0.0, atol=1e-6)


def test_text_rows_name_tokens_of_each_review(zoo) -> None:
    predictor = as_predictor(zoo["text_model"])
    texts = ["a great and wonderful film", "an awful boring movie", "the film was great"]
    frame = audit(predictor, texts, [1, 0, 1], methods=["gradcam"], top_k=3, store=None, progress=False)
    for text, top in zip(texts, frame["top_features"]):
        assert len(top) == 3 and set(top) <= set(predictor.text_view(text).tokens)
    assert (frame["probability"] >= 0.5).all()  # the predicted class's probability, for a sigmoid output
    assert set(frame["predicted"]) <= {0, 1}


# ---- summaries --------------------------------------------------------------------------------------------
def test_summary_of_a_classifier_audit_has_known_answers() -> None:
    frame = pd.DataFrame({
        "input": [0, 0, 1, 1, 2, 2], "method": ["a", "b"] * 3,
        "predicted": [0, 0, 1, 1, 1, 1], "probability": [0.9, 0.9, 0.8, 0.8, 0.6, 0.6],
        "label": [0, 0, 1, 1, 0, 0], "correct": [True, True, True, True, False, False],
        "top_features": [["x", "y"], ["x", "y"], ["x", "z"], ["y", "w"], ["x", "y"], ["x", "q"]],
        "top_values": [[3.0, 1.0], [2.0, 1.0], [1.0, 0.5], [2.0, -1.0], [4.0, 1.0], [1.0, 1.0]],
        "deletion_auc": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "deletion_random_auc": [0.5] * 6,
        "deletion_gain": [0.4, 0.3, 0.2, 0.1, 0.0, -0.1],
    })
    summary = audit_summary(frame)
    assert set(summary) == {"by_class", "top_features", "disagreement", "faithfulness"}
    by_class = summary["by_class"].set_index(["method", "label"])
    assert by_class.loc[("a", 0), "n"] == 2 and by_class.loc[("a", 0), "accuracy"] == 0.5
    assert by_class.loc[("b", 1), "accuracy"] == 1.0 and by_class.loc[("a", 0), "deletion_gain"] == pytest.approx(0.2)
    top = summary["top_features"]
    first_a = top[top["method"] == "a"].iloc[0]
    assert (first_a["feature"], first_a["count"], first_a["share"]) == ("x", 3, 1.0)
    assert first_a["mean_value"] == pytest.approx((3.0 + 1.0 + 4.0) / 3)
    disagreement = summary["disagreement"]
    assert disagreement["input"].tolist() == [1, 2, 0]  # least agreement first
    assert disagreement["agreement"].tolist() == [0.0, 0.5, 1.0]
    faithful = summary["faithfulness"].set_index(["method", "correct"])
    assert faithful.loc[("a", True), "deletion_gain_mean"] == pytest.approx(0.3)
    assert faithful.loc[("a", False), "deletion_gain_mean"] == pytest.approx(0.0)
    assert faithful.loc[("b", True), "n"] == 2


def test_summary_of_a_regression_audit_buckets_the_error() -> None:
    frame = pd.DataFrame({
        "input": [0, 1, 2, 3], "method": ["m"] * 4, "prediction": [1.0, 2.0, 3.0, 4.0],
        "label": [1.0, 3.0, 1.0, 7.0], "error": [0.0, -1.0, 2.0, -3.0], "abs_error": [0.0, 1.0, 2.0, 3.0],
        "top_features": [["a"], ["a"], ["b"], ["a"]], "top_values": [[1.0], [1.0], [1.0], [1.0]],
        "deletion_gain": [0.4, 0.2, 0.1, -0.1],
    })
    summary = audit_summary(frame, buckets=2)
    assert set(summary) == {"by_error", "top_features"}
    by_error = summary["by_error"]
    assert by_error["n"].tolist() == [2, 2] and by_error["abs_error"].tolist() == [0.5, 2.5]
    assert by_error["deletion_gain"].tolist() == pytest.approx([0.3, 0.0])
    with pytest.raises(ValueError, match="empty"):
        audit_summary(frame.iloc[:0])


# ---- resuming -------------------------------------------------------------------------------------------------
def test_an_interrupted_audit_resumes_without_recomputing_what_is_stored(linear: Predictor, tmp_path: Path) -> None:
    x = Z.tabular_data(10, seed=2)
    options = dict(methods=[Known()], metrics=["deletion"], chunk_size=4, store=tmp_path / "s.sqlite", progress=False)
    Known.fail_after = 1
    with pytest.raises(RuntimeError, match="interrupted"):
        audit(linear, x, **options)
    assert Known.calls == [4]
    Known.fail_after = None
    resumed = audit(linear, x, **options)
    assert Known.calls == [4, 4, 2]  # the first chunk came from the store
    evaluations = linear.evaluations
    again = audit(linear, x, **options)
    assert Known.calls == [4, 4, 2] and linear.evaluations == evaluations  # nothing ran, not even a forward pass
    pd.testing.assert_frame_equal(again, resumed)
    assert resumed["input"].tolist() == list(range(10))


# ---- bad input -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, message", [
    ({"methods": ["nope"]}, ValueError, "Unknown method 'nope'; known methods: .*gradcam"),
    ({"methods": ["lime_text"]}, ValueError, "Methods for this model: .*gradcam"),
    ({"methods": []}, ValueError, "No methods to audit.*gradcam"),
    ({"methods": ["gradcam", "gradcam"]}, ValueError, "twice"),
    ({"X": np.zeros((3, 5, 5))}, ValueError, r"shape \(n, 12, 12\); got shape \(3, 5, 5\)"),
    ({"X": np.zeros((12, 12))}, ValueError, r"X\[None\]"),
    ({"X": np.zeros((0, 12, 12))}, ValueError, "X is empty"),
    ({"X": [["a"] * 12] * 12}, TypeError, "numeric array"),
    ({"y": [0, 1]}, ValueError, "one label per input: 3 labels"),
    ({"y": [0, 1, 7]}, ValueError, "class indices 0 to 2"),
    ({"metrics": ["accuracy"]}, ValueError, "Unknown metrics.*deletion"),
    ({"params": {"lime_image": {"num_samples": 5}}}, ValueError, "not audited"),
    ({"targets": [0, 1]}, ValueError, "Got 2 targets for 3 inputs"),
    ({"chunk_size": 0}, ValueError, "chunk_size"),
    ({"client": 42}, TypeError, "Client or a scheduler address"),
])
def test_bad_arguments_get_clear_errors(zoo, images, kwargs: dict, error: type, message: str) -> None:
    arguments = {"X": images, "methods": ["gradcam"], "store": None, "progress": False, **kwargs}
    with pytest.raises(error, match=message):
        audit(zoo["image_functional"], **arguments)


def test_a_text_model_refuses_a_single_string(zoo) -> None:
    with pytest.raises(TypeError, match=r"list of texts"):
        audit(zoo["text_model"], "a great film", methods=["gradcam"], store=None, progress=False)


def test_a_local_audit_never_imports_dask() -> None:
    code = (  # a plain function and lime: no TensorFlow start-up, so this stays quick
        "import sys, numpy as np, zoo, explain\n"
        "p = explain.Predictor(zoo.linear_function, modality='tabular', input_shape=(4,), background=zoo.tabular_data(20))\n"
        "frame = explain.audit(p, zoo.tabular_data(3), methods=['lime_tabular'], params={'lime_tabular': {'num_samples': 50}},\n"
        "                      store=None, progress=False)\n"
        "assert len(frame) == 3\n"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))\n"
    )
    tests = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tests,
                          env={**__import__("os").environ, "PYTHONPATH": tests, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


# ---- Dask (slower: a 2-worker LocalCluster, ~30-60 s with worker start-up) ----------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="seconds")  # runtimes differ from run to run


@pytest.mark.timeout(180)
def test_dask_audit_of_a_users_model_equals_the_local_run(zoo, images, dask_client, tmp_path: Path) -> None:
    model = zoo["image_functional"]
    options = dict(methods=["gradcam"], metrics=["deletion", "insertion"], chunk_size=2, progress=False)
    local = audit(model, images, [0, 1, 2], store=None, **options)
    path = tmp_path / "s.sqlite"
    remote = audit(model, images, [0, 1, 2], store=path, client=dask_client, **options)
    pd.testing.assert_frame_equal(comparable(remote), comparable(local), rtol=1e-5)
    predictor = as_predictor(model)
    evaluations = predictor.evaluations
    stored = audit(model, images, [0, 1, 2], store=path, **options)  # the workers' results are in the store
    assert predictor.evaluations == evaluations
    pd.testing.assert_frame_equal(stored, remote)
    again = audit(model, images, [0, 1, 2], store=None, client=dask_client, **options)  # the same model shipped again
    pd.testing.assert_frame_equal(comparable(again), comparable(local), rtol=1e-5)


@pytest.mark.timeout(180)
def test_dask_workers_load_a_reference_model_by_name(tiny_data_dir: Path, isolated_environment: Path,
                                                     dask_client, monkeypatch: pytest.MonkeyPatch) -> None:
    import models

    monkeypatch.setenv("EXPLAIN_DATA_DIR", str(tiny_data_dir))  # here only: workers get the background rows
    models_dir = isolated_environment / "artifacts"
    models.train("mnist_dense", data_dir=tiny_data_dir, models_dir=models_dir, epochs=1, verbose=0)
    ref = models.load("mnist_dense", models_dir)
    x, y = ref.test_split(tiny_data_dir, limit=4)
    options = dict(methods=["gradient_shap"], params={"gradient_shap": {"nsamples": 20}}, chunk_size=2, store=None,
                   progress=False)  # seeded, and it needs the background rows: shipped to the workers
    local = audit(ref, x, y, **options)
    remote = audit(ref, x, y, client=dask_client, models_dir=models_dir, **options)
    pd.testing.assert_frame_equal(comparable(remote), comparable(local), rtol=1e-5)


# ---- command line -------------------------------------------------------------------------------------------
def test_cli_audits_a_keras_file_on_an_npz_into_parquet(zoo, images, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    model_file = tmp_path / "model.keras"
    zoo["image_functional"].save(model_file)
    np.savez(tmp_path / "inputs.npz", x=images, y=np.array([0, 1, 2]))
    out = tmp_path / "audit.parquet"
    code = main(["audit", "--model", str(model_file), "--input", str(tmp_path / "inputs.npz"), "--methods", "gradcam",
                 "-o", str(out), "--store", str(tmp_path / "s.sqlite"), "--chunk-size", "2", "--top-k", "3"])
    assert code == 0
    frame = pd.read_parquet(out)
    assert len(frame) == 3 and frame["label"].tolist() == [0, 1, 2] and frame["top_features"].map(len).tolist() == [3] * 3
    printed = capsys.readouterr().out
    assert "## by_class" in printed and "## faithfulness" in printed


def test_cli_audits_reviews_from_a_text_file_into_csv(zoo, tmp_path: Path) -> None:
    model_file = tmp_path / "text.keras"
    zoo["text_model"].save(model_file)
    (tmp_path / "reviews.txt").write_text("a great and wonderful film\nan awful boring movie\n", encoding="utf-8")
    out = tmp_path / "audit.csv"
    assert main(["audit", "--model", str(model_file), "--input", str(tmp_path / "reviews.txt"), "--methods",
                 "gradcam", "--metrics", "none", "-o", str(out), "--store", str(tmp_path / "s.sqlite")]) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 2 and "deletion_auc" not in frame and "great" in frame["top_features"].iloc[0]


@pytest.mark.parametrize("arguments, message", [
    (["--methods", "nope"], "Unknown method 'nope'"),
    (["--methods", "gradcam", "--metrics", "speed"], "Unknown metrics ['speed']"),
    (["--methods", "gradcam", "-o", "{tmp}/out.json"], "use one of .parquet, .csv"),
    (["--methods", "gradcam", "--input", "{tmp}/missing.npy"], "no such file"),
    (["--methods", "gradcam", "--input", None], "Give the inputs for"),
    (["--methods", "gradcam", "--limit", "0"], "--limit must be at least 1"),
])
def test_cli_mistakes_are_one_line_errors(zoo, images, tmp_path: Path, capsys: pytest.CaptureFixture,
                                          arguments: list, message: str) -> None:
    model_file = tmp_path / "model.keras"
    zoo["image_functional"].save(model_file)
    np.save(tmp_path / "x.npy", images)
    base = {"--model": str(model_file), "--input": str(tmp_path / "x.npy"), "-o": str(tmp_path / "out.parquet")}
    given = dict(zip(arguments[::2], [a.format(tmp=tmp_path) if a else a for a in arguments[1::2]]))
    argv = ["audit"] + [part for key, value in {**base, **given}.items() if value is not None for part in (key, value)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err
