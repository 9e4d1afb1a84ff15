"""The explanation store: provenance keys, answers from the store, atomic writes, concurrency, schema migration."""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sqlite3
import time
import warnings
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
from explain.store import PAGE_SIZE, SCHEMA_VERSION, Key, StoreError, StoreWarning, request_keys, store_path

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
        assert store._read("PRAGMA journal_mode")[0][0] == "wal" and store._read("PRAGMA page_size")[0][0] == PAGE_SIZE


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


@pytest.mark.parametrize("content", ["text", "garbage", "other_sqlite", "half_store", "negative_version"])
def test_foreign_or_corrupt_files_are_refused_and_left_untouched(content: str, tmp_path: Path) -> None:
    path = tmp_path / "file.sqlite"
    if content == "negative_version":  # user_version is any 32-bit number: another tool's -1 was a KeyError
        ExplanationStore(path).close()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA user_version = -1")
    elif content == "text":
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
    with sqlite3.connect(path) as conn:
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'explanations'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    start = (page - 1) * size  # the rows' root page overwritten, the header intact
    data[start : start + size] = np.random.default_rng(0).bytes(size)
    path.write_bytes(bytes(data))
    with ExplanationStore(path) as store, pytest.raises(StoreError, match=r"is damaged .*move it away"):
        store.get_many([hand_key(i) for i in range(300)])


# ---- schema 2: shared provenance rows, packed documents, the v1 -> v2 migration ----------------------------------
V1_CREATE = ("CREATE TABLE explanations (key TEXT PRIMARY KEY, model TEXT NOT NULL, model_name TEXT, modality TEXT, "
             "input_hash TEXT NOT NULL, requested_target INTEGER, target INTEGER, method TEXT NOT NULL, params TEXT NOT NULL, "
             "truncate INTEGER NOT NULL, scores TEXT NOT NULL, background TEXT, versions TEXT NOT NULL, seconds REAL, "
             "created TEXT, explanation TEXT NOT NULL)")


def make_v1_store(path: Path, rows_: list[tuple[Key, Explanation | str]], *, plain_arrays: bool = True) -> None:
    """A store as schema 1 wrote it (every column in the row, the document as JSON text, format-1 arrays), in WAL mode."""
    from explain import arrays

    saved = arrays.COMPRESS_FROM_BYTES
    arrays.COMPRESS_FROM_BYTES = 1 << 62 if plain_arrays else saved
    try:
        values = [(k.digest, k.model, None if isinstance(e, str) else (e.meta.get("model") or {}).get("model"),
                   None if isinstance(e, str) else e.modality, k.input_hash, k.requested_target,
                   None if isinstance(e, str) else e.target, k.method, k.params, int(k.truncate), k.scores, k.background,
                   k.versions, 0.25, f"2026-01-01T00:00:{i:02d}+00:00", e if isinstance(e, str) else e.to_json())
                  for i, (k, e) in enumerate(rows_)]
    finally:
        arrays.COMPRESS_FROM_BYTES = saved
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(V1_CREATE)
    for column, name in (("method", "method"), ("model", "model"), ("input_hash", "input")):
        conn.execute(f"CREATE INDEX explanations_{name} ON explanations({column})")
    conn.executemany("INSERT INTO explanations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def raw_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM explanations ORDER BY key").fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def varied(zoo, images, tabular: Predictor) -> list[tuple[Key, Explanation]]:
    """Real explanations of every modality, under their real keys: images, reviews (tokens and text derivable or
    not), tabular rows with feature names."""
    cases = [(as_predictor(zoo["image_functional"]), images[:2], "gradcam", {}),
             (as_predictor(zoo["image_functional"]), images[:1], "lime_image", {"num_samples": 30}),
             (as_predictor(zoo["text_model"]), ["a great and wonderful film", "Awful!  Boring, boring movie..."], "lime_text",
              {"num_samples": 30}),
             (as_predictor(zoo["text_model"]), ["an awful film"], "gradcam", {}),
             (tabular, rows(2), "kernel_shap", {"nsamples": 40}), (tabular, rows(2), Scaled(), {})]
    found = []
    for predictor, inputs, method, params in cases:
        request, _ = prepare(predictor, inputs, method, scores=True, **params)
        found += list(zip(request_keys(request), explain_batch(predictor, inputs, method, scores=True, **params)))
    return found


def test_every_modality_reads_back_exactly(varied: list[tuple[Key, Explanation]], tmp_path: Path) -> None:
    with ExplanationStore(tmp_path / "s.sqlite") as store:
        store.put_many(varied)
    with ExplanationStore(tmp_path / "s.sqlite") as store:  # a fresh process's view: nothing cached
        back = store.get_many(k for k, _ in varied)
    for key, explanation in varied:
        assert back[key.digest] == explanation
        assert back[key.digest].to_json() == explanation.to_json()  # key order and all: the same document
        assert Explanation.from_json(explanation.to_json()) == explanation
    texts = [e for _, e in varied if e.modality == "text"]
    assert any(e.meta["text"] != " ".join(e.data) for e in texts)  # the punctuated review: its text is kept as is


def test_shared_provenance_is_stored_once(tabular: Predictor, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    explain_batch(tabular, rows(1), Scaled(), store=path)
    conn = sqlite3.connect(path)
    after_one = conn.execute("SELECT COUNT(*) FROM provenance").fetchone()[0]
    conn.close()
    nearby = rows(1) + 1e-4 * np.arange(1, 6)[:, None]  # five new inputs, explained for the same class
    explain_batch(tabular, nearby, Scaled(), store=path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM provenance").fetchone()[0] == after_one  # nothing new to share
        ids = conn.execute("SELECT DISTINCT model_id, params_id, scores_id, background_id, versions_id FROM explanations").fetchall()
        assert len(ids) == 1 and conn.execute("SELECT COUNT(*) FROM explanations").fetchone()[0] == 6
        versions = conn.execute("SELECT value FROM provenance WHERE id = ?", (ids[0][4],)).fetchone()[0]
        assert versions == request_keys(prepare(tabular, rows(1), Scaled())[0])[0].versions
    finally:
        conn.close()


def test_a_schema_1_store_is_migrated_and_reads_back_equal(varied: list[tuple[Key, Explanation]], tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    before = raw_rows(path)
    conn = sqlite3.connect(path)
    v1_query = conn.execute("SELECT key, model, model_name, modality, input_hash, requested_target, target, method, params, "
                            "truncate, scores, background, versions, seconds, created FROM explanations ORDER BY created, key").fetchall()
    conn.close()
    with ExplanationStore(path) as store:
        assert store._read("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 2
        back = store.get_many(k for k, _ in varied)
        assert [back[k.digest] for k, _ in varied] == [e for _, e in varied]
        table = store.query()
        assert [tuple(r) for r in table.astype(object).where(table.notna(), None).itertuples(index=False)] == \
            [r[:9] + (bool(r[9]),) + r[10:] for r in v1_query]
        assert len(store.query(model=varied[0][0].model)) == 3 and len(store.query(method="lime_text")) == 2
        assert len(store.query(key=varied[0][0].digest)) == 1
    conn = sqlite3.connect(path)
    try:
        assert {r[0] for r in conn.execute("SELECT typeof(explanation) FROM explanations")} == {"blob"}
        assert conn.execute("SELECT COUNT(*) FROM provenance").fetchone()[0] < 3 * len(before)
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {"explanations", "provenance"}
        assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE  # re-paged while compacted
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_a_damaged_schema_1_row_survives_the_migration_and_is_recomputed(tabular: Predictor, tmp_path: Path) -> None:
    x = rows(2)
    keys = request_keys(prepare(tabular, x, Scaled())[0])
    good = explain_batch(tabular, x[:1], Scaled())[0]
    path = tmp_path / "v1.sqlite"
    make_v1_store(path, [(keys[0], good), (keys[1], '{"broken": ')])
    Scaled.batches.clear()
    with ExplanationStore(path) as store:
        with pytest.warns(StoreWarning, match="row [0-9a-f]{16} is damaged.*recomputed and replaced"):
            again = explain_batch(tabular, x, Scaled(), store=store)
        assert Scaled.batches == [1] and again[0] == good
        assert len(store.get_many(keys)) == 2  # replaced by a packed row


class Interrupted(Exception):
    pass


def _failing_after(n: int, action: Any):
    """A stand-in for the per-row migration step that does ``action`` at row ``n``."""
    from explain import store_migration

    real, calls = store_migration.v2_row_from_v1, []

    def step(*args: Any) -> tuple:
        calls.append(1)
        if len(calls) == n:
            action()
        return real(*args)

    return step


def _kill_mid_migration(path: str) -> None:
    """Opens a schema-1 store and dies (no cleanup at all) at the third row of its migration."""
    from explain import store_migration

    store_migration.MIGRATE_BATCH = 1  # rows already written to the new table when it dies
    store_migration.v2_row_from_v1 = _failing_after(3, lambda: os._exit(5))
    ExplanationStore(path)


def test_a_migration_interrupted_by_an_error_leaves_the_schema_1_store_as_it_was(
        varied: list[tuple[Key, Explanation]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explain import store_migration

    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    before = raw_rows(path)

    def fail() -> None:
        raise Interrupted("disk pulled out")

    monkeypatch.setattr(store_migration, "MIGRATE_BATCH", 2)
    monkeypatch.setattr(store_migration, "v2_row_from_v1", _failing_after(5, fail))
    with pytest.raises(Interrupted):
        ExplanationStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {"explanations"}
    conn.close()
    assert raw_rows(path) == before
    monkeypatch.undo()
    with ExplanationStore(path) as store:  # the next open migrates it whole
        assert store.get_many(k for k, _ in varied) == {k.digest: e for k, e in varied}


def test_a_process_killed_mid_migration_leaves_a_readable_store(varied: list[tuple[Key, Explanation]], tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    before = raw_rows(path)
    child = multiprocessing.get_context("spawn").Process(target=_kill_mid_migration, args=(str(path),))
    child.start()
    child.join(120)
    assert child.exitcode == 5
    assert raw_rows(path) == before  # the uncommitted migration is discarded
    with ExplanationStore(path) as store:
        assert store._read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        assert store.get_many(k for k, _ in varied) == {k.digest: e for k, e in varied}


def open_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, stores are opened the way SQLite opens a file it may not write (root writes anywhere, so
    file modes cannot show it)."""
    from explain import store as store_module

    def connect(path: Path, timeout: float) -> sqlite3.Connection:
        return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                               isolation_level=None, check_same_thread=False)

    monkeypatch.setattr(store_module, "_connect", connect)


def set_journal_mode(path: Path, mode: str) -> None:
    conn = sqlite3.connect(path)
    assert conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0] == mode
    conn.close()


@pytest.mark.parametrize("journal", ["wal", "delete"])  # delete: a copy, or a file left so by an interrupted compaction
def test_a_read_only_schema_1_store_is_read_as_it_is(journal: str, varied: list[tuple[Key, Explanation]], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    set_journal_mode(path, journal)
    before, data = raw_rows(path), path.read_bytes()
    open_read_only(monkeypatch)
    with ExplanationStore(path) as store:
        key, explanation = varied[0]
        assert store._schema == 1
        assert store.get(key) == explanation and key in store and len(store) == len(varied)
        assert len(store.query(method="lime_text")) == 2 and len(store.query(key=key.digest)) == 1
        with pytest.raises(StoreError, match="is read-only.*writable"):
            store.put_many([(hand_key(0), hand_explanation(0))])
    assert raw_rows(path) == before and path.read_bytes() == data


def test_a_read_only_store_in_rollback_mode_opens_and_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sqlite"
    with ExplanationStore(path) as store:
        store.put_many([(hand_key(0), hand_explanation(0))])
    set_journal_mode(path, "delete")
    data = path.read_bytes()
    open_read_only(monkeypatch)
    with ExplanationStore(path) as store:  # refused before: "read-only", from switching it to WAL mode
        assert store.get(hand_key(0)) == hand_explanation(0)
        with pytest.raises(StoreError, match="is read-only.*writable"):
            store.put_many([(hand_key(1), hand_explanation(1))])
    assert path.read_bytes() == data


def test_damaged_packed_rows_are_recomputed(tabular: Predictor, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    x = rows(3)
    first = explain_batch(tabular, x, Scaled(), store=path)
    conn = sqlite3.connect(path)
    keys = [r[0] for r in conn.execute("SELECT key FROM explanations ORDER BY rowid")]
    conn.execute("UPDATE explanations SET explanation = ? WHERE key = ?", (b"\x02not zlib", keys[0]))
    conn.execute("UPDATE explanations SET explanation = ? WHERE key = ?", (b"\x07", keys[1]))
    body = conn.execute("SELECT explanation FROM explanations WHERE key = ?", (keys[2],)).fetchone()[0]
    import struct
    import zlib

    size = struct.unpack_from("<I", body, 1)[0]
    ident, values = json.loads(zlib.decompress(body[5 : 5 + size]))
    head = zlib.compress(json.dumps([ident + 10_000, values]).encode())  # a shared row that is not there
    conn.execute("UPDATE explanations SET explanation = ? WHERE key = ?",
                 (body[:1] + struct.pack("<I", len(head)) + head + body[5 + size :], keys[2]))
    conn.commit()
    conn.close()
    Scaled.batches.clear()
    with pytest.warns(StoreWarning, match="is damaged") as caught:
        again = explain_batch(tabular, x, Scaled(), store=path)
    assert len([w for w in caught if issubclass(w.category, StoreWarning)]) == 3
    assert Scaled.batches == [3]
    assert_same_results(again, first)  # recomputed (the runtime differs), then stored again
    assert explain_batch(tabular, x, Scaled(), store=path) == again and Scaled.batches == [3]


@pytest.mark.parametrize("doc", [
    {"data": ["a b", "c"], "labels": ["a b", "c"], "meta": {"text": "a b c"}},  # a token with a space: not split
    {"data": ["", "x"], "labels": ["x"], "meta": {"text": " x"}},  # an empty token; labels differ
    {"data": ["é", "ü", "\u2603"], "labels": ["é", "ü", "\u2603"], "meta": {"text": "é ü \u2603", "n": 1}},
    {"data": ["ok"], "labels": None, "meta": {"text": "OK", "deep": {"a": {"b": {"c": {}}}}, "empty": {}}},
    {"data": [1, 2], "labels": ["1", "2"], "meta": {}, "scores": {"x": {"__float__": "nan"}, "y": [1.5e-300, -0.0]}},
    {"meta": {"model": {"model": "m"}, "library_versions": {"numpy": "2"}}, "params": {}, "labels": ["f"]},
])
def test_the_row_codec_is_lossless_and_keeps_key_order(doc: dict) -> None:
    from explain import store_codec

    texts: list[str] = []

    def intern(text: str) -> int:
        if text not in texts:
            texts.append(text)
        return texts.index(text) + 1

    body = store_codec.pack(doc, intern)
    back = store_codec.unpack(body, lambda i: json.loads(texts[i - 1]))
    assert json.dumps(back) == json.dumps(doc)
    with pytest.raises(ValueError, match="cannot be decoded|truncated|unknown"):
        store_codec.unpack(body[:-3], lambda i: json.loads(texts[i - 1]))


def test_arrays_anywhere_in_a_document_read_back_exactly(tmp_path: Path) -> None:
    odd = Explanation(
        method="hand", modality="image", target=None, attributions=np.linspace(0, 1, 300).reshape(10, 30),
        data=np.arange(300, dtype=np.uint8).reshape(10, 30), labels=None, prediction=np.array([0.5]), base_value=float("nan"),
        params={"baseline": np.zeros(3), "seed": np.int64(4)},
        meta={"segments": np.arange(64, dtype=np.int32), "many": [np.ones(2), {"deep": np.eye(2)}],
              "a": {"b": {"c": {"d": np.full(70, -1.0)}}}, "objects": np.array(["x", 1], dtype=object), "big": 2**70},
        scores={"curve": np.linspace(1, 0, 50), "auc": float("inf")}, target_name="ünïcode")
    with ExplanationStore(tmp_path / "s.sqlite") as store:
        store.put_many([(hand_key(0), odd)])
    with ExplanationStore(tmp_path / "s.sqlite") as store:
        back = store.get(hand_key(0))
    assert back == odd and back.to_json() == odd.to_json()
    from explain import store_codec

    assert json.dumps(store_codec._jsonable(store_codec.document(odd)), default=store_codec._encoded) == odd.to_json()


# ---- races, locks and damage a shared schema-2 file must survive ------------------------------------------------------
def test_a_locked_store_says_so_instead_of_calling_it_damaged(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with ExplanationStore(path) as store:
        store.put_many([(hand_key(0), hand_explanation(0))])
    set_journal_mode(path, "delete")  # as while another process compacts it: readers wait for the writer
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match="stayed locked by another process.*retry") as caught:
            ExplanationStore(path, timeout=0.1)
        assert "damaged" not in str(caught.value) and "move it away" not in str(caught.value)
    finally:
        holder.close()
    with ExplanationStore(path) as store:  # nothing happened to it
        assert store.get(hand_key(0)) == hand_explanation(0)


def test_a_newer_schema_that_appears_while_open_is_refused_never_overwritten(varied: list[tuple[Key, Explanation]],
                                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explain import store_migration

    def set_version(path: Path, version: int) -> None:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute(f"PRAGMA user_version = {version}")

    def version_of(path: Path) -> int:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0]

    current = tmp_path / "v2.sqlite"
    with ExplanationStore(current) as store:
        store.put_many([(hand_key(0), hand_explanation(0))])
        set_version(current, SCHEMA_VERSION + 1)  # a newer keras-explain migrated it meanwhile
        with pytest.raises(StoreError, match="newer keras-explain"):
            store.put_many([(hand_key(1), hand_explanation(1))])
    assert version_of(current) == SCHEMA_VERSION + 1 and len(raw_rows(current)) == 1
    old = tmp_path / "v1.sqlite"
    make_v1_store(old, varied[:2])
    set_version(old, SCHEMA_VERSION + 1)  # between the check at open and the write lock of the migration
    with contextlib.closing(sqlite3.connect(old, isolation_level=None)) as conn, pytest.raises(StoreError, match="newer"):
        store_migration.upgrade(conn, old)
    assert version_of(old) == SCHEMA_VERSION + 1  # was set back to 2 over a layout this version does not know
    set_version(old, 1)
    open_read_only(monkeypatch)
    with ExplanationStore(old) as store:  # read as it is ...
        assert len(store) == 2
        set_version(old, SCHEMA_VERSION + 1)  # ... until a newer version takes it over
        with pytest.raises(StoreError, match="newer keras-explain"):
            len(store)


def test_a_store_read_as_it_is_reads_consistently_while_another_process_migrates_it(
        varied: list[tuple[Key, Explanation]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explain import store as store_module, store_migration

    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    open_read_only(monkeypatch)
    store = ExplanationStore(path)
    assert store._schema == 1
    real, migrated = store_module.user_version, []

    def version_then_migrate(conn: sqlite3.Connection) -> int:
        version = real(conn)
        if not migrated:  # another process migrates right after this reader checked the layout
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as writer:
                migrated.append(store_migration.upgrade(writer, path))
        return version

    monkeypatch.setattr(store_module, "user_version", version_then_migrate)
    key, explanation = varied[0]
    try:
        assert store.get(key) == explanation  # read in its snapshot, as schema 1: not a silent miss
        assert migrated == [True] and store._schema == 1
        assert store.get(key) == explanation and store._schema == SCHEMA_VERSION  # the next read sees schema 2
        assert len(store.query(key=key.digest)) == 1 and len(store) == len(varied)
    finally:
        store.close()


def test_two_processes_opening_one_schema_1_store_both_read_it(varied: list[tuple[Key, Explanation]], tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    readers = [context.Process(target=_open_and_compare, args=(str(path), varied, start)) for _ in range(2)]
    for reader in readers:
        reader.start()
    start.set()
    for reader in readers:
        reader.join(120)
    assert [r.exitcode for r in readers] == [0, 0]  # one migrated, the other waited and found it done
    with ExplanationStore(path) as store:
        assert store._read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        assert store.get_many(k for k, _ in varied) == {k.digest: e for k, e in varied}


def _open_and_compare(path: str, expected: list[tuple[Key, Explanation]], start: Any) -> None:
    start.wait(60)
    with ExplanationStore(path) as store:
        found = store.get_many(k for k, _ in expected)
    if found != {k.digest: e for k, e in expected}:
        os._exit(7)


def test_a_migration_beside_an_open_reader_completes_at_once(varied: list[tuple[Key, Explanation]], tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert len(reader.execute("SELECT key FROM explanations").fetchall()) == len(varied)  # a snapshot held open
        started = time.perf_counter()
        with ExplanationStore(path, timeout=20) as store:
            assert store.get_many(k for k, _ in varied) == {k.digest: e for k, e in varied}
        assert time.perf_counter() - started < 10  # compaction gives up at once, never waits out the busy timeout
        assert len(reader.execute("SELECT key FROM explanations").fetchall()) == len(varied)  # its snapshot: v1
    finally:
        reader.close()
    with ExplanationStore(path) as store:
        assert store._read("PRAGMA journal_mode")[0][0] == "wal" and len(store) == len(varied)


def test_a_migration_keeps_the_json_when_packing_would_not_give_it_back_exactly(
        varied: list[tuple[Key, Explanation]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from explain import store_codec, store_migration

    def reordered(body: bytes, lookup: Any) -> dict:  # a codec bug that dict equality does not see
        doc = store_codec.unpack(body, lookup)
        return {**doc, "meta": dict(reversed(list(doc["meta"].items())))}

    monkeypatch.setattr(store_migration, "store_codec", SimpleNamespace(pack=store_codec.pack, unpack=reordered))
    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    with ExplanationStore(path) as store:
        back = store.get_many(k for k, _ in varied)
    assert {r[15].__class__ for r in raw_rows(path)} == {str}  # every document kept as its JSON text
    assert all(back[k.digest].to_json() == e.to_json() for k, e in varied)


def test_a_migration_that_would_change_a_column_is_refused_and_changes_nothing(
        varied: list[tuple[Key, Explanation]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explain import store_migration

    real = store_migration.v2_row_from_v1

    def wrong_name(*args: Any) -> tuple:  # a conversion bug in a queryable column
        row = real(*args)
        return row[:2] + ("renamed",) + row[3:] if row[2] == "image_functional" else row

    path = tmp_path / "v1.sqlite"
    make_v1_store(path, varied)
    before = raw_rows(path)
    monkeypatch.setattr(store_migration, "v2_row_from_v1", wrong_name)
    with pytest.raises(StoreError, match=r"would change 3 of its 10 rows .*nothing was changed: the file is still schema 1"):
        ExplanationStore(path)
    assert raw_rows(path) == before
    monkeypatch.undo()
    with ExplanationStore(path) as store:
        assert set(store.query()["model_name"]) == {r[2] for r in before}


def test_a_key_that_is_not_a_lowercase_digest_is_kept_exactly(tabular: Predictor, tmp_path: Path) -> None:
    x = rows(2)
    keys = request_keys(prepare(tabular, x, Scaled())[0])
    found = explain_batch(tabular, x, Scaled())
    path = tmp_path / "v1.sqlite"
    make_v1_store(path, list(zip(keys, found)))
    upper = keys[1].digest.upper()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE explanations SET key = ? WHERE key = ?", (upper, keys[1].digest))
    with ExplanationStore(path) as store:
        assert set(store.query()["key"]) == {keys[0].digest, upper}  # was lowercased by the migration
        assert store.get(upper) == found[1] and store.get(keys[0]) == found[0]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT typeof(key) FROM explanations")) == ["blob", "text"]


def test_a_damaged_shared_row_is_detected_and_repaired(tabular: Predictor, tmp_path: Path) -> None:
    from explain import store_codec

    path = tmp_path / "s.sqlite"
    x = rows(3)
    with ExplanationStore(path) as store:  # one long-lived store, as the service's: its caches must not hide the damage
        first = explain_batch(tabular, x, Scaled(), store=store)
        versions = store_codec._dumps(first[0].meta["library_versions"])
        tampered = json.dumps({**first[0].meta["library_versions"], "numpy": "0.0-tampered"}, separators=(",", ":"))
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:  # still valid JSON: decoding alone cannot tell
            assert conn.execute("UPDATE provenance SET value = ? WHERE value = ?", (tampered, versions)).rowcount == 1
        Scaled.batches.clear()
        with pytest.warns(StoreWarning, match="does not match its hash"):
            again = explain_batch(tabular, x, Scaled(), store=store)
        assert Scaled.batches == [3] and all(e.meta["library_versions"] == first[0].meta["library_versions"] for e in again)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("SELECT COUNT(*) FROM provenance WHERE value = ?", (versions,)).fetchone()[0] == 1  # repaired
        with warnings.catch_warnings():
            warnings.simplefilter("error", StoreWarning)
            assert explain_batch(tabular, x, Scaled(), store=store) == again and Scaled.batches == [3]
    with warnings.catch_warnings(), ExplanationStore(path) as fresh:
        warnings.simplefilter("error", StoreWarning)
        assert len(fresh.get_many(request_keys(prepare(tabular, x, Scaled())[0]))) == 3


def test_the_provenance_caches_stay_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explain import store as store_module

    monkeypatch.setattr(store_module, "_CACHE_LIMIT", 8)
    with ExplanationStore(tmp_path / "s.sqlite") as store:
        for i in range(12):  # each with its own model, parameters and description: new provenance rows each time
            store.put_many([(hand_key(i, writer=str(i)), hand_explanation(i))])
            assert len(store._ids) <= 8
        back = store.get_many(hand_key(i, writer=str(i)) for i in range(12))
        assert len(store._values) <= 8
    assert [back[hand_key(i, writer=str(i)).digest] for i in range(12)] == [hand_explanation(i) for i in range(12)]


def test_a_text_explanations_own_labels_stay_in_its_row() -> None:
    from explain import store_codec

    texts: list[str] = []

    def intern(text: str) -> int:
        texts.append(text)
        return len(texts)

    doc = {"modality": "text", "data": ["a", "b"], "labels": ["A", "B"], "meta": {}, "params": {}}
    back = store_codec.unpack(store_codec.pack(doc, intern), lambda i: json.loads(texts[i - 1]))
    assert back == doc and '["A","B"]' not in texts  # one provenance row per review would be minted otherwise
    tabular = {**doc, "modality": "tabular"}
    store_codec.pack(tabular, intern)
    assert '["A","B"]' in texts  # feature names: shared


def test_a_negative_array_length_in_a_packed_row_is_refused() -> None:
    import struct
    import zlib

    from explain import store_codec

    texts: list[str] = []

    def intern(text: str) -> int:
        texts.append(text)
        return len(texts)

    body = store_codec.pack({"a": np.zeros(3), "b": np.zeros(0), "c": np.ones(3)}, intern)
    size = struct.unpack_from("<I", body, 1)[0]
    skeleton, values = json.loads(zlib.decompress(body[5 : 5 + size]))
    values[1][3] = -24  # "b" steps back over "a"'s bytes, so that "c" reads them again
    head = zlib.compress(json.dumps([skeleton, values]).encode())
    forged = body[:1] + struct.pack("<I", len(head)) + head + body[5 + size : -24]
    with pytest.raises(ValueError, match="an array of -24 bytes"):
        store_codec.unpack(forged, lambda i: json.loads(texts[i - 1]))
