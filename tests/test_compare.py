"""``explain.compare``: two model versions explained on the same inputs (issue 13, drift of reasons).

Fast: plain functions with known answers and the tiny zoo models.  Covers the
statistics (identical models agree perfectly; a feature one model ignores shows
as the largest shift), every modality, refusals of models that do not take the
same inputs, the ``explain compare`` command, its report section and the
dashboard page.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

import explain
import zoo
from explain import report
from explain.cli import main

NAMES = ["f0", "f1", "f2", "f3"]
USES_F3 = np.array([2.0, -1.0, 0.5, 1.5])  # zoo.LINEAR_WEIGHTS gives f3 weight 0: model A ignores it


def uses_f3(x) -> np.ndarray:
    return (np.asarray(x, dtype=np.float64) @ USES_F3 + zoo.LINEAR_BIAS).reshape(-1, 1)


def tabular(function, name: str) -> explain.Predictor:
    return explain.Predictor(function, modality="tabular", feature_names=NAMES, background=zoo.tabular_data(40),
                             name=name)


def linear_keras(weights: np.ndarray, name: str):
    """zoo.tabular_linear's architecture with other weights: a retrained version of it."""
    model = zoo.tabular_linear()
    model.get_layer("linear").set_weights([weights.reshape(-1, 1).astype(np.float32),
                                           np.array([zoo.LINEAR_BIAS], dtype=np.float32)])
    model.name = name
    return model


X = zoo.tabular_data(12, seed=5)


# ---- the statistics ----------------------------------------------------------------------------------------
def test_identical_models_agree_perfectly_and_nothing_shifts() -> None:
    model = tabular(zoo.linear_function, "linear")
    result = explain.compare(model, model, X, ["occlusion", "kernel_shap"], k=2)
    assert list(result.per_input.columns[:3]) == ["input", "method", "target"]
    assert len(result.per_input) == 2 * len(X)
    # f3 has weight 0, so its attribution is 0 in every row: Spearman over the other ranks is still exact
    assert np.allclose(result.per_input["spearman_abs"], 1.0) and np.allclose(result.per_input["spearman"], 1.0)
    assert (result.per_input["top_k"] == 1.0).all()
    assert np.allclose(result.importance["shift"], 0.0)
    summary = result.summary()
    assert summary["median_spearman_abs"] == pytest.approx(1.0) and summary["mean_top_k"] == 1.0
    assert summary["importance_moved"] == pytest.approx(0.0) and summary["largest_shift"] == pytest.approx(0.0)
    assert all(isinstance(v, float) for v in summary.values())
    assert result.name_a == "linear (A)" and result.name_b == "linear (B)"


def test_a_feature_one_model_ignores_is_the_largest_shift() -> None:
    result = explain.compare(tabular(zoo.linear_function, "old"), tabular(uses_f3, "new"), X, ["kernel_shap"], k=2)
    importance = result.importance
    assert list(importance.columns[:5]) == ["method", "unit", "importance_a", "importance_b", "shift"]
    top = result.largest_shifts(1).iloc[0]
    assert top["unit"] == "f3" and top["shift"] > 0.2
    f3 = importance.set_index("unit").loc["f3"]
    assert f3["importance_a"] == pytest.approx(0.0, abs=1e-9) and f3["importance_b"] == pytest.approx(f3["shift"])
    # the other features keep their mean |attribution| (their weights did not change) but lose share
    for name in ("f0", "f1", "f2"):
        row = importance.set_index("unit").loc[name]
        assert row["mean_abs_a"] == pytest.approx(row["mean_abs_b"], rel=1e-6) and row["shift"] < 0
    assert np.isclose(importance["importance_a"].sum(), 1) and np.isclose(importance["importance_b"].sum(), 1)
    summary = result.summary()
    assert summary["importance_moved"] == pytest.approx(top["shift"], rel=1e-6)  # all mass moved went to f3
    assert summary["shift f3 (kernel_shap)"] == pytest.approx(top["shift"])
    assert summary["mean_top_k"] < 1.0
    changed = result.most_changed(3)
    assert len(changed) == 3 and changed["spearman_abs"].is_monotonic_increasing


def test_the_same_target_is_explained_on_both_models() -> None:
    a, b = zoo.tabular_classifier(seed=0), zoo.tabular_classifier(seed=1)
    pa = explain.Predictor(a, background=zoo.tabular_data(30))
    pb = explain.Predictor(b, background=zoo.tabular_data(30))
    predicted = pa.predict(X).argmax(axis=1)
    result = explain.compare(pa, pb, X, "gradient_x_input")
    assert result.per_input["target"].tolist() == predicted.tolist()
    assert [e.target for e in result.explanations_b["gradient_x_input"]] == predicted.tolist()
    chosen = explain.compare(pa, pb, X, "gradient_x_input", targets=2)
    assert set(chosen.per_input["target"]) == {2}
    assert chosen.per_input["prediction_b"].tolist() == pytest.approx(pb.predict(X)[:, 2].tolist())


def test_images_compare_by_region_on_a_grid() -> None:
    x = np.random.default_rng(3).integers(0, 256, size=(4, 12, 12)).astype(np.float32)
    same = explain.compare(zoo.image_functional(), zoo.image_functional(), x, ["gradcam"])
    assert same.grid == 7 and len(same.importance) == 49
    assert np.allclose(same.per_input["spearman_abs"], 1.0) and np.allclose(same.importance["shift"], 0.0)
    assert same.importance["unit"].str.match(r"rows \d+-\d+, cols \d+-\d+").all()
    other = explain.compare(zoo.image_functional(), zoo.image_functional(seed=1), x, ["gradcam"], grid=3)
    assert len(other.importance) == 9 and np.isclose(other.importance["importance_b"].sum(), 1.0)
    assert other.summary()["importance_moved"] > 0 and len(other.per_input) == 4


def test_texts_compare_per_token_string() -> None:
    texts = zoo.TEXT_CORPUS[:5]
    result = explain.compare(zoo.text_model(), zoo.text_model(seed=1), texts, ["occlusion"])
    tokens = result.importance.set_index("unit")
    assert tokens.loc["great", "count"] == sum(t.split().count("great") for t in texts)
    assert {"wonderful", "awful", "boring"} <= set(tokens.index)
    assert result.per_input["units"].tolist() == [len(t.split()) for t in texts]
    same = explain.compare(zoo.text_model(), zoo.text_model(), texts, ["occlusion"])
    assert np.allclose(same.importance["shift"], 0.0) and (same.per_input["top_k"] == 1.0).all()


def test_explain_compare_is_the_function_and_drift_the_module() -> None:
    import explain.drift

    assert callable(explain.compare) and explain.compare is explain.drift.compare
    assert explain.Comparison is explain.drift.Comparison and "compare" in explain.__all__


# ---- refusals ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_b, words", [
    (lambda: zoo.tabular_classifier(), "reads image inputs, model B tabular"),
    (lambda: zoo.image_sequential(), "shape (12, 12), model B (12, 12, 1)"),
    (lambda: zoo.image_functional(n_classes=4), "3 classes, model B 4"),
    (lambda: zoo.image_binary(), "output is multiclass, model B's binary"),
])
def test_models_that_do_not_take_the_same_inputs_are_refused(make_b, words: str) -> None:
    x = np.zeros((2, 12, 12), dtype=np.float32)
    with pytest.raises(ValueError, match="compare needs two versions of one model") as info:
        explain.compare(zoo.image_functional(), make_b(), x, ["gradcam"])
    assert words in str(info.value)


def test_regression_against_classification_and_other_features_are_refused() -> None:
    with pytest.raises(ValueError, match="output is regression, model B's multiclass"):
        explain.compare(zoo.tabular_linear(), zoo.tabular_classifier(), X, ["occlusion"])
    renamed = explain.Predictor(zoo.linear_function, modality="tabular", feature_names=["a", "b", "c", "d"],
                                background=zoo.tabular_data(10))
    with pytest.raises(ValueError, match="their features differ"):
        explain.compare(tabular(zoo.linear_function, "x"), renamed, X, ["occlusion"])


@pytest.mark.parametrize("methods, k, words", [([], 5, "at least one method"), (["nope"], 5, "nope"),
                                               (["occlusion"], 0, "k must be")])
def test_bad_arguments_are_refused(methods, k, words: str) -> None:
    model = tabular(zoo.linear_function, "linear")
    with pytest.raises(ValueError, match=words):
        explain.compare(model, model, X, methods, k=k)


# ---- the command line and the report -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compare")
    paths = {"old": folder / "old.keras", "new": folder / "new.keras", "classifier": folder / "classifier.keras",
             "rows": folder / "rows.csv"}
    linear_keras(zoo.LINEAR_WEIGHTS, "old").save(paths["old"])
    linear_keras(USES_F3, "new").save(paths["new"])
    zoo.tabular_classifier().save(paths["classifier"])
    pd.DataFrame(zoo.tabular_data(10, seed=7), columns=NAMES).to_csv(paths["rows"], index=False)
    return paths


def run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_summary_and_the_top_shifts(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run([str(files["old"]), str(files["new"]), "--methods", "occlusion", "--inputs", str(files["rows"]),
                        "-k", "2"], capsys)
    assert code == 0
    assert "median_spearman_abs" in out and "mean_top_k" in out and "importance_moved" in out
    shifts = out.split("largest importance shifts")[1]
    first = next(line for line in shifts.splitlines()[2:] if line.strip())
    assert first.split()[:2] == ["occlusion", "f3"]  # the CSV header names the features; f3 moved most
    assert "inputs whose explanations changed most" in out


@pytest.mark.parametrize("args, words", [
    (["{old}", "{classifier}", "--methods", "occlusion", "--inputs", "{rows}"], "output is regression, model B's multiclass"),
    (["{old}", "{new}", "--methods", "nope", "--inputs", "{rows}"], "Unknown method"),
    (["{old}", "{new}", "--methods", "occlusion"], "Give the inputs"),
    (["{old}", "{new}", "--methods", "occlusion", "--inputs", "{rows}", "-o", "out.txt"], "use .html, .pdf or .csv"),
    (["{old}", "missing.keras", "--methods", "occlusion", "--inputs", "{rows}"], "missing.keras"),
    (["{old}", "resnet", "--methods", "occlusion", "--inputs", "{rows}"], "neither a reference model"),
    (["{old}", "{new}", "--methods", "occlusion", "--limit", "0"], "--limit must be at least 1"),
])
def test_cli_user_mistakes_are_one_error_line_and_status_2(files: dict[str, Path], args: list[str], words: str,
                                                            capsys: pytest.CaptureFixture, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run([a.format(**{k: str(v) for k, v in files.items()}) for a in args], capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert lines[-1].startswith("error: ") and words in lines[-1] and "Traceback" not in err


def test_cli_inputs_and_limit_exclude_each_other(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compare", str(files["old"]), str(files["new"]), "--methods", "occlusion", "--inputs",
              str(files["rows"]), "--limit", "3"])
    assert info.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_cli_writes_an_html_report_with_the_comparison_section(files: dict[str, Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "drift.html"
    code, out, _ = run([str(files["old"]), str(files["new"]), "--methods", "occlusion,kernel_shap", "--inputs",
                        str(files["rows"]), "-o", str(target)], capsys)
    assert code == 0 and target.is_file()
    soup = BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser")
    section = soup.find("section", id="comparison")
    assert section is not None and "old against new" in section.h2.get_text()
    tables = {t.figcaption.get_text(): t for t in section.find_all("figure", class_="table")}
    assert {"Summary", "Importance shifts, occlusion", "Importance shifts, kernel_shap",
            "The inputs whose explanations changed most"} <= set(tables)
    shifts = tables["Importance shifts, occlusion"].find("tbody").find_all("tr")
    assert shifts[0].find("td").get_text() == "f3"
    changed = tables["The inputs whose explanations changed most"].find("tbody").find_all("tr")
    assert len(changed) == 5 and re.fullmatch(r"Input \d+", changed[0].find("td").get_text())
    images = section.find_all("img")
    assert len(images) == 2 + 2 * 5  # a shift chart per method, then A's and B's figure for each changed input
    assert all(img["src"].startswith("data:image/png;base64,") for img in images)
    assert soup.find("section", id="provenance") is not None and "Comparing two models" in soup.get_text()
    assert not list(tmp_path.glob(".drift.html.*"))  # written atomically: no temporary file left behind


def test_report_pdf_and_csv_outputs(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = [str(files["old"]), str(files["new"]), "--methods", "occlusion", "--inputs", str(files["rows"])]
    pdf, csv = tmp_path / "drift.pdf", tmp_path / "drift.csv"
    assert run(base + ["-o", str(pdf)], capsys)[0] == 0
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert "Comparison: old against new" in text and "Importance shifts, occlusion" in text
    assert run(base + ["-o", str(csv)], capsys)[0] == 0
    per_input, importance = pd.read_csv(csv), pd.read_csv(tmp_path / "drift-importance.csv")
    assert len(per_input) == 10 and {"spearman_abs", "spearman", "top_k"} <= set(per_input.columns)
    assert importance.iloc[0]["unit"] == "f3" and importance["importance_b"].sum() == pytest.approx(1.0)


def test_write_report_takes_a_comparison_and_refuses_other_things(tmp_path: Path) -> None:
    result = explain.compare(tabular(zoo.linear_function, "old"), tabular(uses_f3, "new"), X, ["occlusion"])
    html = report.build_html(comparison=result, title="Drift")
    assert 'id="comparison"' in html and "Importance shifts, occlusion" in html
    with pytest.raises(TypeError, match="explain.compare"):
        report.build_html(comparison=result.per_input)
    with pytest.raises(ValueError, match="comparison=..."):
        report.build_html()


# ---- the dashboard page ------------------------------------------------------------------------------------
def test_the_compare_page_shows_what_moved(files: dict[str, Path]) -> None:
    from apptest_helpers import run_page

    from explain.dashboard import state

    app = run_page("compare", compare_source_a=state.UPLOAD, compare_source_b=state.UPLOAD)
    app.file_uploader(key="compare_upload_a").upload("old.keras", files["old"].read_bytes())
    app.file_uploader(key="compare_upload_b").upload("new.keras", files["new"].read_bytes())
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("upload a file of inputs" in i.value for i in app.info)
    app.file_uploader(key="compare_inputs").upload("rows.npy", _npy(zoo.tabular_data(8, seed=7)))
    app.run()
    app.multiselect(key="compare_methods").set_value(["occlusion"])
    app.run()
    app.button(key="compare_go").click()
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    metrics = {m.label: m.value for m in app.metric}
    assert 0 < float(metrics["Importance moved"]) < 1 and "Median Spearman |attr|" in metrics
    shifts = app.dataframe[0].value
    assert shifts.iloc[0]["unit"] == "feature 3" and shifts.iloc[0]["shift"] > 0
    assert len(app.dataframe[1].value) == 5  # the most changed inputs
    assert len(app.get("vega_lite_chart")) == 1  # the shift chart (st.bar_chart)
    assert len(app.get("image")) == 6  # A's and B's figures of the three inputs that changed most


def test_the_compare_page_refuses_models_that_differ(files: dict[str, Path]) -> None:
    from apptest_helpers import run_page

    from explain.dashboard import state

    app = run_page("compare", compare_source_a=state.UPLOAD, compare_source_b=state.UPLOAD,
                   compare_methods=["occlusion"])
    app.file_uploader(key="compare_upload_a").upload("old.keras", files["old"].read_bytes())
    app.file_uploader(key="compare_upload_b").upload("classifier.keras", files["classifier"].read_bytes())
    app.run()
    app.file_uploader(key="compare_inputs").upload("rows.npy", _npy(zoo.tabular_data(8, seed=7)))
    app.run()
    app.button(key="compare_go").click()
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("cannot be compared" in e.value and "regression" in e.value for e in app.error)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
