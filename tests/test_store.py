"""The explanation store: provenance keys, answers from the store, atomic writes, concurrency, schema migration."""
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import zoo as Z
from explain import ExplanationStore, Predictor, as_predictor, explain, explain_batch
from explain.explanation import Explanation
from explain.methods.base import Attribution, Method, param
from explain.pipeline import prepare
from explain.store import SCHEMA_VERSION, Key, StoreError, request_keys, store_path

FEATURES = ("rooms", "age", "income", "noise")


@dataclass
class Scaled(Method):
    """A deterministic tabular method that records every batch it is asked to compute (instances only: not registered)."""

    name = "test_scaled"
    modalities = ("tabular",)
    batches: ClassVar[list[int]] = []
    seed: int = 0
    scale: float = 1.0
    background: Any = param(None, role="background")  # declared: None means the predictor's reference rows

    def attribute(self, predictor, inputs, targets):
        Scaled.batches.append(len(inputs))
        return [Attribution(attributions=np.asarray(x, dtype=np.float64) * self.scale + self.seed) for x in inputs]


@pytest.fixture(autouse=True)
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLAIN_STORE", raising=False)
    Scaled.batches.clear()


@pytest.fixture(scope="module")
def tabular() -> Predictor:
    return Predictor(Z.tabular_classifier(), feature_names=FEATURES, background=Z.tabular_data(20, seed=3))


def rows(n: int = 5, seed: int = 0) -> np.ndarray:
    return Z.tabular_data(n, seed=seed)


def assert_same_results(got: list[Explanation], expected: list[Explanation]) -> None:
    """The same explanations up to runtime and float rounding (TensorFlow rounds differently per batch size)."""
    assert [(e.target, e.params, e.labels) for e in got] == [(e.target, e.params, e.labels) for e in expected]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-6)
        np.testing.assert_allclose(a.prediction, b.prediction, rtol=1e-6)


def hand_explanation(i: int) -> Explanation:
    return Explanation(method="hand", modality="tabular", target=0, attributions=np.full(4, float(i)),
                       data=np.zeros(4, np.float32), labels=FEATURES, prediction=np.array([1.0]), base_value=None,
                       params={"i": i}, meta={"model": {"model": "hand_model"}, "seconds": 0.5})


def hand_key(i: int, writer: str = "a") -> Key:
    return Key(model=f"model-{writer}", input_hash=f"input-{i}", requested_target=None, method="hand", params="{}",
               truncate=False, scores="false", background=None, versions="{}")


# ---- where the store lives ------------------------------------------------------------------------------
def test_store_path_is_argument_then_environment_then_models_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path / "models"))
    assert store_path() == tmp_path / "models" / "explanations.sqlite"
    monkeypatch.setenv("EXPLAIN_STORE", str(tmp_path / "env.sqlite"))
    assert store_path() == tmp_path / "env.sqlite"
    assert store_path(tmp_path / "arg.sqlite") == tmp_path / "arg.sqlite"


def test_store_true_uses_the_default_path(tabular: Predictor, isolated_environment: Path) -> None:
    explain_batch(tabular, rows(2), Scaled(), store=True)
    with ExplanationStore(isolated_environment / "artifacts" / "explanations.sqlite") as store:
        assert len(store) == 2
    with pytest.raises(TypeError, match="store= takes an ExplanationStore, a path or True"):
        explain_batch(tabular, rows(2), Scaled(), store=3)


# ---- answering from the store ---------------------------------------------------------------------------------
def test_the_same_request_is_answered_from_the_store_with_equal_explanations(zoo, images, tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    predictor = as_predictor(zoo["image_functional"])
    first = explain_batch(predictor, images, "lime_image", num_samples=40, seed=1, scores=True, store=path)
    evaluations = predictor.evaluations
    again = explain_batch(predictor, images, "lime_image", num_samples=40, seed=1, scores=True, store=path)
    assert predictor.evaluations == evaluations  # nothing ran: no forward pass at all
    assert again == first and all(a.scores for a in again)
    single = explain(predictor, images[1], "lime_image", num_samples=40, seed=1, scores=True, store=path)
    assert isinstance(single, Explanation) and single == first[1] and predictor.evaluations == evaluations
    with ExplanationStore(path) as store:
        assert len(store) == 3


def test_only_missing_inputs_are_computed_in_one_batched_call(tabular: Predictor, tmp_path: Path) -> None:
    x = rows(6)
    with ExplanationStore(tmp_path / "s.sqlite") as store:
        explain_batch(tabular, x[[1, 4]], Scaled(), store=store)
        assert Scaled.batches == [2]
        batch = np.concatenate([x, x[:2]])  # inputs 0 and 1 twice: computed once
        results = explain_batch(tabular, batch, Scaled(), store=store)
        assert Scaled.batches == [2, 4]  # 0, 2, 3, 5 in ONE call
        assert len(store) == 6
    fresh = explain_batch(tabular, batch, Scaled())
    assert_same_results(results, fresh)  # input order kept, hits and misses alike


def test_targets_are_part_of_the_key_and_checked(tabular: Predictor, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    predicted = explain_batch(tabular, rows(3), Scaled(), store=path)
    explain_batch(tabular, rows(3), Scaled(), targets=[2, 2, 2], store=path)
    assert Scaled.batches == [3, 3]
    again = explain_batch(tabular, rows(3), Scaled(), targets=[2, 0, 2], store=path)
    assert Scaled.batches == [3, 3, 1] and [e.target for e in again] == [2, 0, 2]
    assert [e.target for e in explain_batch(tabular, rows(3), Scaled(), store=path)] == [e.target for e in predicted]
    with pytest.raises(ValueError, match="Got 2 targets for 3 inputs"):
        explain_batch(tabular, rows(3), Scaled(), targets=[1, 1], store=path)


@pytest.mark.parametrize("change", ["input", "seed", "param", "truncate", "scores", "model", "background", "versions"])
def test_every_provenance_field_makes_a_new_request(change: str, tabular: Predictor, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sqlite"
    base = dict(model=tabular, inputs=rows(2), method=Scaled(), truncate=False, scores=False)
    explain_batch(**base, store=path)
    explain_batch(**base, store=path)
    assert Scaled.batches == [2]  # the same request: a hit
    if change == "versions":
        import explain.provenance

        monkeypatch.setattr(explain.provenance, "library_versions", lambda: {"numpy": "0.0-other"})
    other = {
        "input": {"inputs": rows(2) + 1e-3}, "seed": {"method": Scaled(seed=1)}, "param": {"method": Scaled(scale=2.0)},
        "truncate": {"truncate": True}, "scores": {"scores": ["deletion"]},
        "model": {"model": Predictor(Z.tabular_classifier(seed=1), feature_names=FEATURES, background=Z.tabular_data(20, seed=3))},
        "background": {"model": Predictor(tabular.keras_model, feature_names=FEATURES, background=Z.tabular_data(20, seed=4))},
        "versions": {},
    }[change]
    explain_batch(**{**base, **other}, store=path)
    assert Scaled.batches == [2, 2]
    with ExplanationStore(path) as store:
        assert len(store) == 4


def test_text_inputs_are_keyed_by_their_text(zoo, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    predictor = as_predictor(zoo["text_model"])
    first = explain(predictor, "a great and wonderful film", "gradcam", store=path)
    evaluations = predictor.evaluations
    assert explain(predictor, "a great and wonderful film", "gradcam", store=path) == first
    assert predictor.evaluations == evaluations
    explain(predictor, "an awful boring movie", "gradcam", store=path)
    assert predictor.evaluations > evaluations


def test_a_plain_function_needs_a_fingerprint_that_changes_with_it(tmp_path: Path) -> None:
    predictor = Predictor(Z.linear_function, modality="tabular", feature_names=FEATURES, input_shape=(4,))
    with pytest.raises(ValueError, match="Set predictor.fingerprint"):
        explain_batch(predictor, rows(2), Scaled(), store=tmp_path / "s.sqlite")
    predictor.fingerprint = "linear-v1"
    assert len(explain_batch(predictor, rows(2), Scaled(), store=tmp_path / "s.sqlite")) == 2


# ---- the store's own API -------------------------------------------------------------------------------------------
def test_get_put_len_contains_query_and_close(tabular: Predictor, tmp_path: Path) -> None:
    x = rows(3)
    with ExplanationStore(tmp_path / "s.sqlite") as store:
        explain_batch(tabular, x, Scaled(), store=store)
        lime = explain_batch(tabular, x[:1], "lime_tabular", num_samples=50, store=store)[0]
        keys = request_keys(prepare(tabular, x, Scaled())[0])
        assert keys[0] in store and keys[0].digest in store and len(store) == 4
        assert_same_results([store.get(keys[2])], explain_batch(tabular, x[2:], Scaled()))
        assert store.get("no such key") is None
        table = store.query(method="test_scaled")
        assert len(table) == 3 and "explanation" not in table.columns
        assert set(table["input_hash"]) == {k.input_hash for k in keys} and set(table["model_name"]) == {tabular.name}
        assert len(store.query(model=tabular.fingerprint)) == 4 and len(store.query(model=tabular.name)) == 4
        assert len(store.query(method="lime_tabular", target=lime.target)) == 1
        assert len(store.query(method="lime_tabular", target=(lime.target + 1) % 3)) == 0
        with pytest.raises(ValueError, match="Unknown store columns"):
            store.query(colour="red")
    with pytest.raises(ValueError, match="closed"):
        len(store)


# ---- atomic writes and concurrency ----------------------------------------------------------------------------------
def test_an_exception_in_the_middle_of_a_write_leaves_no_rows(tmp_path: Path) -> None:
    def items():
        for i in range(5):
            if i == 3:
                raise RuntimeError("interrupted")
            yield hand_key(i), hand_explanation(i)

    with ExplanationStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(RuntimeError, match="interrupted"):
            store.put_many(items())
        assert len(store) == 0
        assert store.put_many([(hand_key(9), hand_explanation(9))]) == 1  # the connection is usable again
        assert store.get(hand_key(9)) == hand_explanation(9)


def _crash_mid_write(path: str) -> None:
    """Writes three rows of a transaction, then the process dies without committing."""
    def items():
        for i in range(5):
            if i == 3:
                os._exit(3)
            yield hand_key(i), hand_explanation(i)

    ExplanationStore(path).put_many(items())


def _write_rows(path: str, writer: str, transactions: int, per_transaction: int, start: Any) -> None:
    with ExplanationStore(path) as store:
        start.wait(60)  # both writers begin together
        for t in range(transactions):
            store.put_many((hand_key(t * per_transaction + i, writer), hand_explanation(t * per_transaction + i))
                           for i in range(per_transaction))


def test_a_process_killed_mid_write_leaves_no_partial_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite")
    ExplanationStore(path).close()
    child = multiprocessing.get_context("spawn").Process(target=_crash_mid_write, args=(path,))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    with ExplanationStore(path) as store:
        assert len(store) == 0
        store.put_many([(hand_key(0), hand_explanation(0))])
        assert len(store) == 1


def test_two_processes_write_at_once_and_every_row_is_readable(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [context.Process(target=_write_rows, args=(path, w, 10, 20, start)) for w in ("a", "b")]
    for writer in writers:
        writer.start()
    with ExplanationStore(path) as store:
        start.set()
        seen = []
        while any(w.is_alive() for w in writers):
            seen.append(len(store))  # reading while they write never fails, and never goes back
            time.sleep(0.005)
        for writer in writers:
            writer.join(60)
            assert writer.exitcode == 0
        assert seen == sorted(seen) and all(n % 20 == 0 for n in seen)  # whole transactions only
        assert len(store) == 400
        found = store.get_many([hand_key(i, w) for w in ("a", "b") for i in range(200)])
        assert len(found) == 400 and found[hand_key(123, "b").digest] == hand_explanation(123)
        assert store._read("PRAGMA journal_mode")[0][0] == "wal"


# ---- schema versions ---------------------------------------------------------------------------------------------
def make_v0_store(path: Path, rows_: list[tuple[Key, Explanation]]) -> None:
    """A store as the first release wrote it: key columns only, the requested target called "target"."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE explanations (key TEXT PRIMARY KEY, model TEXT NOT NULL, input_hash TEXT NOT NULL, "
                 "target INTEGER, method TEXT NOT NULL, params TEXT NOT NULL, truncate INTEGER NOT NULL, "
                 "scores TEXT NOT NULL, background TEXT, versions TEXT NOT NULL, explanation TEXT NOT NULL)")
    conn.executemany("INSERT INTO explanations VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
        (k.digest, k.model, k.input_hash, k.requested_target, k.method, k.params, int(k.truncate), k.scores,
         k.background, k.versions, e.to_json()) for k, e in rows_])
    conn.commit()
    conn.close()


def test_an_old_store_is_migrated_and_still_answers(tabular: Predictor, tmp_path: Path) -> None:
    x = rows(2)
    old = explain_batch(tabular, x, Scaled())
    keys = request_keys(prepare(tabular, x, Scaled())[0])
    path = tmp_path / "old.sqlite"
    make_v0_store(path, list(zip(keys, old)))
    Scaled.batches.clear()
    with ExplanationStore(path) as store:
        assert store._read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        table = store.query()
        assert list(table["model_name"]) == [tabular.name] * 2 and list(table["modality"]) == ["tabular"] * 2
        assert list(table["target"]) == [e.target for e in old] and table["requested_target"].isna().all()
        assert explain_batch(tabular, x, Scaled(), store=store) == old
    assert Scaled.batches == []  # answered from the migrated rows


def test_a_newer_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    with ExplanationStore(path) as store:
        store.put_many([(hand_key(0), hand_explanation(0))])
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"newer keras-explain .*Upgrade keras-explain, or point EXPLAIN_STORE"):
        ExplanationStore(path)
    assert path.read_bytes() == before and not Path(f"{path}-wal").exists()


@pytest.mark.parametrize("content", ["text", "garbage", "other_sqlite", "half_store"])
def test_foreign_or_corrupt_files_are_refused_and_left_untouched(content: str, tmp_path: Path) -> None:
    path = tmp_path / "file.sqlite"
    if content == "text":
        path.write_text("these are my notes, not a database\n" * 50)
    elif content == "garbage":
        path.write_bytes(b"SQLite format 3\x00" + np.random.default_rng(0).bytes(4096))
    else:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE explanations (key TEXT)" if content == "half_store" else "CREATE TABLE songs (title TEXT)")
        conn.commit()
        conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"not an explanation store.*move it away, or point EXPLAIN_STORE"):
        ExplanationStore(path)
    assert path.read_bytes() == before


def test_a_store_damaged_after_writing_gives_a_clear_error_on_reading(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with ExplanationStore(path) as store:
        store.put_many((hand_key(i), hand_explanation(i)) for i in range(300))
    data = bytearray(path.read_bytes())
    data[8192 : 8192 + 4096] = np.random.default_rng(0).bytes(4096)  # a page of rows overwritten, the header intact
    path.write_bytes(bytes(data))
    with ExplanationStore(path) as store, pytest.raises(StoreError, match=r"is damaged .*move it away"):
        store.get_many([hand_key(i) for i in range(300)])
