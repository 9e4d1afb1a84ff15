"""The model-randomisation check per model and method: verdicts, refusals, storage beside the card, CLI, dashboard.

Tiny zoo models for the verdicts; the dashboard tests' tiny trained reference models (``test_app.tiny``, one
epoch each) for storage, the command line and the Sanity check tab, each test on its own copy of the folder.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import explain
import models
from apptest_helpers import run_page
from explain.cli import main
from explain.evaluation import model_sanity as MS
from explain.methods.base import Attribution, Method
from explain.predictor import Predictor
from test_app import tiny  # noqa: F401  (the module-scoped fixture: three tiny trained reference models)

FAST = "saliency"  # a gradient method: one backward pass per input, so the tests stay quick


@dataclass
class InputItself(Method):
    """Attributions = the input: ignores the model, so it must fail the check."""

    name = "test_input_itself"
    modalities = ("image", "tabular")

    def attribute(self, predictor, inputs, targets):
        return [Attribution(attributions=np.asarray(x, dtype=float).reshape(x.shape[:2])) for x in inputs]


@dataclass
class Constant(Method):
    """The same flat map for every input and model: no rank correlation exists, so the check cannot tell."""

    name = "test_constant"
    modalities = ("image", "tabular")

    def attribute(self, predictor, inputs, targets):
        return [Attribution(attributions=np.ones(x.shape[:2])) for x in inputs]


@pytest.fixture
def folder(tiny: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """A private copy of the trained models (sanity files written by one test never reach another)."""
    copy = tmp_path / "models"
    shutil.copytree(tiny["models"], copy)
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(copy))
    monkeypatch.setenv("EXPLAIN_DATA_DIR", str(tiny["data"]))
    return copy


def sha(folder: Path, name: str = "mnist_cnn") -> str:
    return json.loads((folder / f"{name}.json").read_text())["model_file"]["sha256"]


# ---- the summary in words ---------------------------------------------------------------------------------
def test_summary_numbers_and_verdicts() -> None:
    low = MS.summarise([{"spearman_abs": v, "spearman": -v} for v in (0.1, 0.2, 0.3, 0.4, 0.9)])
    assert low["verdict"] == "passes" and low["median"] == pytest.approx(0.3)
    assert (low["q1"], low["q3"]) == (pytest.approx(0.2), pytest.approx(0.4))
    assert low["share_at_or_below"] == pytest.approx(0.8) and low["median_spearman"] == pytest.approx(-0.3)
    high = MS.summarise([{"spearman_abs": v, "spearman": v} for v in (0.45, 0.6, 0.9)])
    assert high["verdict"] == "fails" and "may show the input more than the model" in high["verdict_text"]
    assert MS.summarise([{"spearman_abs": 0.5}, {"spearman_abs": 0.5}])["verdict"] == "passes"  # the threshold counts
    nan = float("nan")
    mostly_nan = MS.summarise([{"spearman_abs": nan}] * 3 + [{"spearman_abs": 0.1}] * 2)
    assert mostly_nan["verdict"] == "inconclusive" and mostly_nan["n_nan"] == 3 and mostly_nan["median"] == 0.1
    some_nan = MS.summarise([{"spearman_abs": nan}] + [{"spearman_abs": 0.9}] * 3)
    assert some_nan["verdict"] == "fails" and some_nan["share_at_or_below"] == 0.0
    assert "0.5" in low["how_to_read"] and MS.THRESHOLD == 0.5


# ---- computing: model-dependent passes, model-blind fails, constant is inconclusive ---------------------------
def test_a_gradient_method_passes_and_a_copy_of_the_input_fails(zoo, images) -> None:
    model = zoo["image_functional"]
    card = MS.randomisation_card(model, images, FAST)
    assert card["summary"]["verdict"] == "passes", card["per_input"]
    assert card["summary"]["median"] <= MS.THRESHOLD and card["inputs"]["n"] == 3 and len(card["per_input"]) == 3
    assert card["method"] == FAST and card["params"] == explain.get_method(FAST)().params()
    assert card["model"]["fingerprint"] == Predictor(model).fingerprint and card["inputs"]["digest"].startswith("sha256:")
    assert card["seconds"] > 0 and "numpy" in card["versions"]
    json.dumps(card, allow_nan=False)  # strict JSON: nan is stored as null
    blind = MS.randomisation_card(model, images, InputItself())
    assert blind["summary"]["verdict"] == "fails" and blind["summary"]["median"] == pytest.approx(1.0)
    flat = MS.randomisation_card(model, images, Constant())
    assert flat["summary"]["verdict"] == "inconclusive" and flat["summary"]["n_nan"] == 3
    assert all(r == {"spearman_abs": None, "spearman": None} for r in flat["per_input"])
    other = MS.randomisation_card(model, images, FAST, seed=1)
    assert other["per_input"] != card["per_input"] and other["seed"] == 1  # the seed draws the random weights


def test_refusals_say_what_to_do(zoo, images) -> None:
    function = Predictor(lambda x: np.full((len(x), 2), 0.5), modality="image", class_names=["a", "b"])
    with pytest.raises(ValueError, match="plain prediction function.*pass the Keras model"):
        MS.randomisation_card(function, images, "occlusion")
    with pytest.raises(ValueError, match="lime_text explains text.*methods the check can run.*saliency"):
        MS.randomisation_card(zoo["image_functional"], images, "lime_text")
    with pytest.raises(ValueError, match="between 2 and"):
        MS.randomisation_card(zoo["image_functional"], images[0], FAST)  # one image
    with pytest.raises(ValueError, match="Unknown method"):
        MS.randomisation_card(zoo["image_functional"], images, "no_such_method")


# ---- storage beside the card ------------------------------------------------------------------------------
def test_computed_once_then_read_back(folder: Path) -> None:
    reference = models.load("mnist_cnn", folder)
    first = MS.ensure(folder, "mnist_cnn", FAST, 4, reference=reference)
    path = folder / "mnist_cnn.sanity-saliency.json"
    assert first.computed and first.ignored is None and path.is_file()
    assert first.result["model"]["fingerprint"] == sha(folder) and len(first.result["inputs"]["indices"]) == 4
    again = MS.ensure(folder, "mnist_cnn", FAST, 4, reference=reference)
    assert not again.computed and again.result["per_input"] == first.result["per_input"]
    assert MS.stored(folder, "mnist_cnn", FAST) == again.result  # the sha256 read from the card
    assert MS.ensure(folder, "mnist_cnn", FAST, 4, reference=reference, force=True).computed
    assert "other method parameters (score)" in MS.lookup(folder, "mnist_cnn", FAST, score="probability").reason
    assert "on 4 inputs, not 5" in MS.lookup(folder, "mnist_cnn", FAST, n=5).reason
    assert "seed 0, not 3" in MS.lookup(folder, "mnist_cnn", FAST, seed=3).reason
    missing = MS.lookup(folder, "mnist_cnn", "gradcam")
    assert missing.result is None and not missing.exists and missing.reason == "not computed yet"
    x, _ = reference.test_split()
    sample, rows = MS.reference_inputs(reference, 4)
    assert rows == first.result["inputs"]["indices"] and np.array_equal(sample, x[rows])  # a fixed seeded sample
    with pytest.raises(ValueError, match="holds only"):
        MS.reference_inputs(reference, len(x) + 1)


def test_a_text_model_is_checked_on_the_tokens_it_reads(folder: Path) -> None:
    reference = models.load("imdb_cnn", folder)
    texts, _ = MS.reference_inputs(reference, 3)
    predictor = explain.as_predictor(reference)
    assert all(isinstance(t, str) and len(predictor.text_view(t).tokens) <= predictor.window for t in texts)
    outcome = MS.ensure(folder, "imdb_cnn", "gradient_x_input", 3, reference=reference)
    assert outcome.computed and outcome.result["summary"]["verdict"] in ("passes", "fails", "inconclusive")
    assert outcome.result["summary"]["n"] == 3
    with pytest.raises(ValueError, match="lime_image explains image"):
        MS.ensure(folder, "imdb_cnn", "lime_image", 3, reference=reference)


def test_a_result_for_a_retrained_model_is_ignored_and_recomputed(folder: Path) -> None:
    reference = models.load("mnist_cnn", folder)
    assert MS.ensure(folder, "mnist_cnn", FAST, 3, reference=reference).computed
    path = MS.sanity_path(folder, "mnist_cnn", FAST)
    document = json.loads(path.read_text())
    document["model"]["fingerprint"] = "sha256:" + "0" * 64
    path.write_text(json.dumps(document))
    found = MS.lookup(folder, "mnist_cnn", FAST)
    assert found.result is None and found.exists and "stale" in found.reason and "retrained" in found.reason
    assert MS.stored(folder, "mnist_cnn", FAST) is None
    redone = MS.ensure(folder, "mnist_cnn", FAST, 3, reference=reference)
    assert redone.computed and "stale" in redone.ignored
    assert json.loads(path.read_text())["model"]["fingerprint"] == sha(folder)


_VALID: dict[str, bytes] = {}


def _valid(folder: Path) -> bytes:
    """A good stored file for the tiny mnist_cnn (computed once: every copy of the folder holds the same model)."""
    if "mnist_cnn" not in _VALID:
        reference = models.load("mnist_cnn", folder)
        MS.ensure(folder, "mnist_cnn", FAST, 2, reference=reference)
        _VALID["mnist_cnn"] = MS.sanity_path(folder, "mnist_cnn", FAST).read_bytes()
    return _VALID["mnist_cnn"]


BAD_FILES = {
    "not JSON": (lambda good: b"{this is not json", "not valid JSON"),
    "truncated": (lambda good: good[: len(good) // 2], "not valid JSON"),
    "a list": (lambda good: b"[1, 2, 3]", "a JSON list, not an object"),
    "binary": (lambda good: bytes(range(256)), "not valid JSON"),
    "NaN literal": (lambda good: good.replace(b'"seconds": ', b'"seconds": NaN, "x": '), "not valid JSON"),
    "deeply nested": (lambda good: b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),
    "wrong type": (lambda good: good.replace(b'"method": "saliency"', b'"method": 7'), "method is 7, not a string"),
    "correlation out of range": (lambda good: json.dumps(
        {**json.loads(good), "per_input": [{"spearman_abs": 9.0, "spearman": 0.1}] * 2}).encode(), "per_input[0]"),
    "rows do not match n": (lambda good: json.dumps({**json.loads(good), "per_input": []}).encode(), "0 rows for 2"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_damaged_or_hostile_file_is_ignored_with_a_reason(folder: Path, case: str) -> None:
    make, reason = BAD_FILES[case]
    path = MS.sanity_path(folder, "mnist_cnn", FAST)
    path.write_bytes(make(_valid(folder)))
    found = MS.lookup(folder, "mnist_cnn", FAST)
    assert found.result is None and found.exists and reason in found.reason, found.reason
    assert MS.stored(folder, "mnist_cnn", FAST) is None


def test_a_huge_file_or_a_link_is_never_read(folder: Path, tmp_path: Path) -> None:
    path = MS.sanity_path(folder, "mnist_cnn", FAST)
    with open(path, "wb") as handle:
        handle.truncate(MS.MAX_BYTES + 1)  # sparse: costs no disk
    assert "more than a stored check ever holds" in MS.lookup(folder, "mnist_cnn", FAST).reason
    path.unlink()
    target = tmp_path / "elsewhere.json"
    target.write_bytes(_valid(folder))
    path.unlink(missing_ok=True)
    path.symlink_to(target)
    assert "not a plain file" in MS.lookup(folder, "mnist_cnn", FAST).reason
    with pytest.raises(ValueError, match="letters, digits"):
        MS.sanity_path(folder, "../mnist_cnn", FAST)


def test_a_bad_file_is_replaced_whole_and_never_half_overwritten(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = models.load("mnist_cnn", folder)
    path = MS.sanity_path(folder, "mnist_cnn", FAST)
    path.write_bytes(b'{"format": "keras-explain/model-sanity", "vers')
    broken = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patched, pytest.raises(OSError, match="disk full"):
        patched.setattr("explain.paths.os.replace", crash)  # atomic_write fails at its last step
        MS.ensure(folder, "mnist_cnn", FAST, 2, reference=reference)
    assert path.read_bytes() == broken and [p.name for p in folder.glob(".mnist_cnn.sanity-*")] == []  # no temp left
    outcome = MS.ensure(folder, "mnist_cnn", FAST, 2, reference=reference)
    assert outcome.computed and "not valid JSON" in outcome.ignored
    assert MS.lookup(folder, "mnist_cnn", FAST).result["per_input"] == outcome.result["per_input"]


def test_two_methods_live_in_two_files(folder: Path) -> None:
    reference = models.load("mnist_cnn", folder)
    a = MS.ensure(folder, "mnist_cnn", FAST, 2, reference=reference)
    b = MS.ensure(folder, "mnist_cnn", "gradcam", 2, reference=reference)
    assert sorted(p.name for p in folder.glob("mnist_cnn.sanity-*.json")) == [
        "mnist_cnn.sanity-gradcam.json", "mnist_cnn.sanity-saliency.json"]
    assert MS.stored(folder, "mnist_cnn", FAST)["per_input"] == a.result["per_input"]
    assert MS.stored(folder, "mnist_cnn", "gradcam")["method"] == b.result["method"] == "gradcam"
    assert models.trained_cards(folder)["mnist_cnn"]["name"] == "mnist_cnn"  # the card itself is untouched


# ---- the command line ----------------------------------------------------------------------------------------
def test_cli_prints_a_row_per_method_and_reuses_stored_results(folder: Path, capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["--models-dir", str(folder), "sanity", "mnist_cnn", "--methods", f"{FAST},gradcam", "--n", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith((FAST, "gradcam"))]
    assert [r[0] for r in rows] == [FAST, "gradcam"] and all(r[-1] == "computed" and r[1] == "3" for r in rows)
    assert all(r[-3] in ("passes", "fails", "inconclusive") for r in rows) and "spearman_abs" in out
    stored = MS.stored(folder, "mnist_cnn", FAST)
    assert f"{stored['summary']['median']:.2f}" in rows[0]
    with monkeypatch.context() as patched:
        patched.setattr(models, "load", lambda *a, **k: pytest.fail("stored results need no model"))
        assert main(argv) == 0
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines() if line.startswith((FAST, "gradcam"))] \
        == ["stored", "stored"]
    assert main(argv + ["--force"]) == 0 and capsys.readouterr().out.count("computed") == 2
    assert main(["--models-dir", str(folder), "sanity", "housing_mlp", "--n", "2"]) == 0  # default methods that apply
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[2:4]] == ["saliency", "integrated_gradients"]


@pytest.mark.parametrize("args, message", [
    (["no_such_model"], "Unknown reference model 'no_such_model'"),
    (["mnist_dense"], "not trained yet"),
    (["mnist_cnn", "--methods", "nope"], "Unknown method 'nope'"),
    (["mnist_cnn", "--methods", "lime_text"], "lime_text cannot explain mnist_cnn; methods for this model:"),
    (["mnist_cnn", "--n", "1"], "between 2 and"),
    (["mnist_cnn", "--methods", ","], "--methods is empty"),
])
def test_cli_user_mistakes_exit_2_with_one_line(folder: Path, capsys: pytest.CaptureFixture, args: list[str],
                                                message: str) -> None:
    assert main(["--models-dir", str(folder), "sanity", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err
    assert list(folder.glob("*.sanity-*")) == []


def test_cli_notes_an_ignored_file(folder: Path, capsys: pytest.CaptureFixture) -> None:
    MS.sanity_path(folder, "mnist_cnn", FAST).write_text("[]")
    assert main(["--models-dir", str(folder), "sanity", "mnist_cnn", "--methods", FAST, "--n", "2"]) == 0
    captured = capsys.readouterr()
    assert "not used (it is not a randomisation-check result (a JSON list" in captured.err
    assert "computed" in captured.out and MS.stored(folder, "mnist_cnn", FAST) is not None


# ---- the dashboard's Sanity check tab ----------------------------------------------------------------------------
def test_the_tab_shows_stored_results_and_computes_missing_ones_on_a_click(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explain.evaluation import sanity

    runs: list[int] = []
    original = sanity.randomisation_check
    monkeypatch.setattr(MS, "randomisation_check", lambda *a, **k: runs.append(1) or original(*a, **k))
    app = run_page("models", reference_model="mnist_cnn")
    assert not app.exception and not app.error
    assert "Sanity check" in [t.label for t in app.tabs] and runs == []  # nothing computed on page load
    picker = app.multiselect(key="sanity-methods:mnist_cnn")
    assert set(picker.value) == set(explain.available(models.load("mnist_cnn", folder)))  # all missing, preselected
    picker.set_value([FAST]).run()
    app.button(key="sanity:mnist_cnn").click().run()
    assert not app.exception and not app.error and runs == [1]
    assert any("Checked 1 of 1 method(s) on 8 test inputs in" in s.value for s in app.success)
    verdict = MS.stored(folder, "mnist_cnn", FAST)["summary"]["verdict"]
    assert any(m.value.startswith(f"**{FAST}**") and verdict in m.value for m in app.markdown)
    assert f"{FAST}: the numbers" in [e.label for e in app.expander]
    assert FAST not in app.multiselect(key="sanity-methods:mnist_cnn").options
    assert any("spearman_abs is the rank correlation" in c.value for c in app.caption)
    again = run_page("models", reference_model="mnist_cnn")  # a new session reads the stored file back
    assert runs == [1] and any(m.value.startswith(f"**{FAST}**") for m in again.markdown)


def test_the_tab_says_why_a_stored_file_is_not_used(folder: Path) -> None:
    MS.sanity_path(folder, "mnist_cnn", "gradcam").write_text("{broken")
    app = run_page("models", reference_model="mnist_cnn")
    assert not app.exception and not app.error
    assert any("`gradcam`: the stored result is not used: it is not valid JSON" in c.value for c in app.caption)


def test_nan_is_stored_as_null_and_read_back_as_inconclusive(folder: Path) -> None:
    good = json.loads(_valid(folder))
    good["per_input"] = [{"spearman_abs": None, "spearman": None}] * 2
    MS.sanity_path(folder, "mnist_cnn", FAST).write_text(json.dumps(good))
    result = MS.stored(folder, "mnist_cnn", FAST)
    assert result["summary"]["verdict"] == "inconclusive"  # the summary follows the rows, not the stored summary
    assert result["summary"]["median"] is None and not math.isnan(result["summary"]["n_nan"])
