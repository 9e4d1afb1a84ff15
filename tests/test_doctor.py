"""The compatibility doctor: one row per method (works / refused / failed, and why), and the model as read.

Each test asks the doctor about a few methods only, so it stays fast; the
point is that its verdicts match what the methods really do on these models.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import explain
import zoo as z
from explain import registry
from explain.cli import main
from explain.methods.base import Attribution

doctor_module = importlib.import_module("explain.doctor")  # the module; ``explain.doctor`` is the function


def rows(report: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The report keyed by method name."""
    return {row["method"]: row for row in report.to_dict("records")}


@pytest.fixture
def linear_with_background(zoo: dict) -> explain.Predictor:
    return explain.Predictor(zoo["tabular_linear"], background=z.tabular_data(20, seed=3))


# ---- verdicts --------------------------------------------------------------------------------------
def test_tabular_model_with_background_runs_kernel_shap_and_refuses_gradcam(linear_with_background) -> None:
    report = explain.doctor(linear_with_background, methods=["kernel_shap", "gradcam"])
    assert list(report.columns) == ["method", "status", "reason", "seconds", "detail"]
    assert list(report["method"]) == ["kernel_shap", "gradcam"]
    found = rows(report)
    assert found["kernel_shap"]["status"] == "works" and found["kernel_shap"]["reason"] == ""
    assert found["kernel_shap"]["detail"].startswith("shape 4,")
    assert found["gradcam"]["status"] == "refused" and "not tabular inputs" in found["gradcam"]["reason"]
    assert all(s >= 0 for s in report["seconds"]) and found["kernel_shap"]["seconds"] > found["gradcam"]["seconds"]


def test_the_tabular_probe_is_a_background_row_not_the_mean(linear_with_background) -> None:
    """At the background mean the SHAP values of a linear model are all zero: a false 'failed'."""
    probe, source = doctor_module.probe_input(linear_with_background, seed=0)
    background = linear_with_background.background
    assert any(np.array_equal(probe, row) for row in background) and "background row" in source
    assert not np.allclose(probe, background.mean(axis=0))
    again, _ = doctor_module.probe_input(linear_with_background, seed=0)
    assert np.array_equal(probe, again)


def test_without_background_the_shap_refusal_says_what_to_pass(zoo: dict) -> None:
    report = explain.doctor(explain.Predictor(zoo["tabular_linear"]), methods="kernel_shap, lime_tabular")
    for row in rows(report).values():
        assert row["status"] == "refused" and "background=" in row["reason"], row
    assert report.attrs["model"]["background_rows"] is None
    assert "ones" in report.attrs["model"]["probe"]


@pytest.mark.parametrize("name, layer", [("image_functional", "conv_b"), ("image_nested", "backbone/base_conv2")])
def test_image_model_with_a_convolution_runs_gradcam(zoo: dict, name: str, layer: str) -> None:
    report = explain.doctor(zoo[name], methods=["gradcam", "kernel_shap"])
    found = rows(report)
    assert found["gradcam"]["status"] == "works" and "shape 12x12" in found["gradcam"]["detail"]
    assert found["kernel_shap"]["status"] == "refused" and "not image inputs" in found["kernel_shap"]["reason"]
    model = report.attrs["model"]
    assert model["gradcam_layer"] == layer and model["modality"] == "image" and model["input_shape"] == [12, 12]
    assert model["modality_source"] == "inferred" and model["output"] == "multiclass" and model["n_classes"] == 3
    assert len(model["probe_output"]) == 3 and model["warnings"] == []


def test_a_plain_function_needs_keras_for_gradient_and_cam_methods() -> None:
    predictor = explain.Predictor(z.keyword_function, modality="text", class_names=["negative", "positive"])
    example = "a great film with an awful ending and great music"
    found = rows(explain.doctor(predictor, example=example, methods=["gradcam", "cam", "lime_text"]))
    for name in ("gradcam", "cam"):
        assert found[name]["status"] == "refused" and "needs a Keras model" in found[name]["reason"]
    assert found["lime_text"]["status"] == "works" and "target positive" in found["lime_text"]["detail"]
    assert found["lime_text"]["detail"].startswith("shape 10,")  # one attribution per word


def test_a_probe_the_model_ignores_gives_zero_attributions_and_is_failed() -> None:
    """The default sentence has no 'great' or 'awful': the keyword model is flat there, so LIME says nothing."""
    predictor = explain.Predictor(z.keyword_function, modality="text", class_names=["negative", "positive"])
    row = rows(explain.doctor(predictor, methods=["lime_text"]))["lime_text"]
    assert row["status"] == "failed" and "attributions are zero" in row["reason"] and "example" in row["reason"]


def test_a_plain_tabular_function_keeps_model_agnostic_methods() -> None:
    predictor = explain.Predictor(z.linear_function, modality="tabular", input_shape=(4,),
                                  background=z.tabular_data(20, seed=3))
    report = explain.doctor(predictor, methods=["gradient_shap", "kernel_shap"])
    found = rows(report)
    assert found["gradient_shap"]["status"] == "refused" and "needs a Keras model" in found["gradient_shap"]["reason"]
    assert found["kernel_shap"]["status"] == "works"
    model = report.attrs["model"]
    assert model["modality_source"] == "declared" and model["gradcam_layer"] == "none (not a Keras model)"


def test_text_model_reports_its_vectorizer(zoo: dict) -> None:
    report = explain.doctor(zoo["text_model"], methods=["lime_text"])
    model = report.attrs["model"]
    assert model["text_vectorizer"] == "vectorizer" and model["gradcam_layer"] == "text_conv"
    assert model["modality"] == "text" and model["output"] == "binary"
    assert rows(report)["lime_text"]["status"] == "works"


def test_declared_settings_are_told_apart_from_inferred_ones(zoo: dict) -> None:
    model = explain.doctor(explain.Predictor(zoo["image_sequential"], modality="image"), methods=["cam"]).attrs["model"]
    assert model["modality_source"] == "declared" and model["output_source"] == "inferred"
    assert explain.doctor(zoo["image_sequential"], methods=["cam"]).attrs["model"]["modality_source"] == "inferred"


# ---- failures -------------------------------------------------------------------------------------
def test_an_unexpected_error_is_failed_with_its_type_and_text(linear_with_background, monkeypatch) -> None:
    def boom(self, predictor, inputs, targets):
        raise RuntimeError("the solver diverged")

    monkeypatch.setattr(registry.get("lime_tabular"), "attribute", boom)
    found = rows(explain.doctor(linear_with_background, methods=["lime_tabular", "kernel_shap"]))
    assert found["lime_tabular"]["status"] == "failed"
    assert found["lime_tabular"]["reason"] == "RuntimeError: the solver diverged"
    assert found["kernel_shap"]["status"] == "works"  # one broken method does not stop the check


def test_a_value_error_with_a_message_is_a_refusal(linear_with_background, monkeypatch) -> None:
    def refuse(self, predictor, inputs, targets):
        raise ValueError("lime_tabular needs at least 5 features")

    monkeypatch.setattr(registry.get("lime_tabular"), "attribute", refuse)
    row = rows(explain.doctor(linear_with_background, methods=["lime_tabular"]))["lime_tabular"]
    assert row["status"] == "refused" and row["reason"] == "lime_tabular needs at least 5 features"


@pytest.mark.parametrize("value, words", [(0.0, "are zero"), (np.nan, "NaN or infinite")])
def test_an_empty_looking_explanation_is_failed_not_works(linear_with_background, monkeypatch,
                                                         value: float, words: str) -> None:
    budgets: list[int] = []

    def constant(self, predictor, inputs, targets):
        budgets.append(self.num_samples)
        return [Attribution(attributions=np.full(4, value)) for _ in inputs]

    monkeypatch.setattr(registry.get("lime_tabular"), "attribute", constant)
    row = rows(explain.doctor(linear_with_background, methods=["lime_tabular"]))["lime_tabular"]
    assert row["status"] == "failed" and words in row["reason"]
    assert budgets == [200]  # the small budget reached the method


def test_budgets_are_only_the_parameters_a_method_has() -> None:
    assert doctor_module.budget("kernel_shap") == {"nsamples": 50, "background_size": 10}
    assert doctor_module.budget("lime_image") == {"num_samples": 200}
    assert doctor_module.budget("gradcam") == {}


def test_a_keras_file_is_read_in_safe_mode_and_other_files_are_refused(zoo: dict, tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    zoo["image_sequential"].save(path)
    found = rows(report := explain.doctor(path, methods=["gradcam", "cam"]))
    assert report.attrs["model"]["gradcam_layer"] == "seq_conv" and found["gradcam"]["status"] == "works"
    # plain CAM needs global pooling after the last convolution; the method's own ValueError is the reason
    assert found["cam"]["status"] == "refused" and "global average pooling" in found["cam"]["reason"]
    with pytest.raises(ValueError, match="reads .keras files"):
        explain.doctor(str(tmp_path / "m.h5"))


def test_an_unknown_method_is_a_user_error_before_any_work(zoo: dict) -> None:
    with pytest.raises(ValueError, match="Unknown method 'gradcom'.*gradcam"):
        explain.doctor(zoo["tabular_linear"], methods=["kernel_shap", "gradcom"])


# ---- the command line ------------------------------------------------------------------------------
def cli_output(out: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The printed description (``key: value`` lines) and table (method -> its other words)."""
    head, _, table = out.partition("\n\n")
    described = dict(line.split(":", 1) for line in head.splitlines())
    lines = table.strip().splitlines()
    assert lines[0].split() == ["method", "status", "reason", "seconds", "detail"]
    return {k: v.strip() for k, v in described.items()}, {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_cli_image_model_lists_methods_and_exits_0(zoo: dict, tmp_path: Path, capsys) -> None:
    path = tmp_path / "m.keras"
    zoo["image_functional"].save(path)
    assert main(["doctor", str(path), "--methods", "gradcam,lime_text", "--class-names", "cat,dog,bird"]) == 0
    described, table = cli_output(capsys.readouterr().out)
    assert described["gradcam_layer"] == "conv_b" and described["class_names"] == "['cat', 'dog', 'bird']"
    assert described["modality"] == "image" and described["modality_source"] == "inferred"
    assert list(table) == ["gradcam", "lime_text"]
    assert table["gradcam"][0] == "works" and table["lime_text"][0] == "refused"
    assert table["gradcam"][-2:-1] == ["target"] and table["gradcam"][-1] in ("cat", "dog", "bird")


def test_cli_exits_1_when_no_method_works_and_0_with_example_rows(zoo: dict, tmp_path: Path, capsys) -> None:
    path = tmp_path / "m.keras"
    zoo["tabular_linear"].save(path)
    assert main(["doctor", str(path), "--methods", "kernel_shap"]) == 1  # no background: refused
    described, table = cli_output(capsys.readouterr().out)
    assert table["kernel_shap"][0] == "refused" and described["background_rows"] == "None"
    rows_file = tmp_path / "rows.csv"
    pd.DataFrame(z.tabular_data(12, seed=4), columns=list("abcd")).to_csv(rows_file, index=False)
    assert main(["doctor", str(path), "--methods", "kernel_shap", "--example", str(rows_file)]) == 0
    described, table = cli_output(capsys.readouterr().out)
    assert described["probe"] == "the given example" and described["background_rows"] == "12"
    assert table["kernel_shap"][0] == "works"


@pytest.mark.parametrize("args, words", [
    (["doctor", "nowhere.keras"], "No model file at nowhere.keras"),
    (["doctor", "resnet"], "neither a .keras file nor a reference model"),
    (["doctor", "nowhere.keras", "--methods", "gradcom"], "Unknown method 'gradcom'"),
])
def test_cli_user_errors_are_one_line_and_exit_2(args: list[str], words: str, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and words in err and "\n" not in err


# ---- the dashboard ---------------------------------------------------------------------------------
def _upload_page(data: bytes):
    from streamlit.testing.v1 import AppTest

    from explain.dashboard import state

    def script() -> None:
        from explain.dashboard import model_page

        model_page.picker()
        model_page.page()

    app = AppTest.from_function(script, default_timeout=120)
    app.session_state[state.SOURCE_KEY] = state.UPLOAD
    app.run()
    app.file_uploader(key=state.UPLOAD_KEY).upload("mine.keras", data)
    return app.run()


def test_dashboard_upload_page_runs_the_doctor(zoo: dict, tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    zoo["tabular_classifier"].save(path)
    app = _upload_page(path.read_bytes())
    assert "Compatibility check (doctor)" in [e.label for e in app.expander]
    assert not [d for d in app.dataframe if "method" in d.value.columns]  # nothing runs before the click
    button = next(b for b in app.button if b.key and b.key.startswith("run-doctor:"))
    app = button.click().run()
    assert not app.exception, [e.value for e in app.exception]
    table = next(d.value for d in app.dataframe if "method" in d.value.columns)
    assert set(table["method"]) == set(registry.names())
    assert set(table.loc[table["method"].isin(["gradcam", "lime_image"]), "status"]) == {"refused"}
