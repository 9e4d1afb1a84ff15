"""The dashboard, driven headlessly with Streamlit's AppTest, on tiny models trained once per module.

Each page is a function (``explain.dashboard.PAGES``); tests run one page at a
time, with the sidebar model picker, so they stay fast and independent of the
navigation.  One test runs the real ``app.py`` entry point.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import explain.api
import models
from conftest import write_housing, write_imdb_folder, write_mnist
from apptest_helpers import TIMEOUT, keras_file, png, run_page, upload_model, zip_of
from explain.dashboard import explain_page, imaging, inputs, state, training

APP = str(Path(__file__).resolve().parent.parent / "app.py")


# ---- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny data and three tiny reference models (one epoch each), shared by the whole module."""
    root = tmp_path_factory.mktemp("dashboard")
    data = root / "data"
    data.mkdir()
    write_mnist(data / "mnist.npz")
    write_housing(data / "california_housing.npz")
    write_imdb_folder(data)
    trained = root / "artifacts"
    for name in ("mnist_cnn", "imdb_cnn", "housing_mlp"):
        models.train(name, data_dir=data, models_dir=trained, epochs=1, verbose=0)
    return {"data": data, "models": trained}


@pytest.fixture
def env(tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tiny["models"]))
    monkeypatch.setenv("EXPLAIN_DATA_DIR", str(tiny["data"]))
    return tiny


class Calls(list):
    """Methods of the explain_batch calls made, in order; ``targets`` holds the targets asked for."""

    targets: list[Any]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every computation the pipeline runs (the app runs in this process): store and cache hits are not counted.

    The memory caches are cleared first, so what a test counts does not depend on earlier tests.
    """
    import streamlit as st

    from explain import pipeline

    st.cache_data.clear()
    seen = Calls()
    seen.targets = []
    original = pipeline.compute_local

    def counting(request: Any):
        for target in sorted(set(request.targets), key=str):
            seen.append(request.method.name)
            seen.targets.append(target)
        return original(request)

    monkeypatch.setattr(pipeline, "compute_local", counting)
    return seen


def no_trouble(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def keyed(app: AppTest, kind: str, prefix: str):
    """The one widget of ``kind`` whose key starts with ``prefix`` (keys name the model, so match a prefix)."""
    found = [w for w in getattr(app, kind) if w.key and w.key.startswith(prefix)]
    assert len(found) == 1, [w.key for w in getattr(app, kind)]
    return found[0]


# ---- the app entry point and the Models page -----------------------------------------------------------
def test_app_opens_on_the_models_page_and_offers_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path / "empty"))
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not app.exception
    assert app.title[0].value == models.names()[0]
    assert "not trained yet" in app.warning[0].value
    assert [b.label for b in app.button] == ["Train it now"]
    table = app.dataframe[0].value
    assert list(table["model"]) == models.names() and set(table["status"]) == {"untrained"}
    assert app.selectbox(key=state.REFERENCE_KEY).options == [f"{n} (not trained)" for n in models.names()]


@pytest.mark.parametrize("setting, started", [("1", 1), ("0", 0)])
def test_the_app_starts_the_background_warm_up_unless_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  setting: str, started: int) -> None:
    from explain import warmup

    starts = []
    monkeypatch.setattr(warmup, "start_warm_up", lambda methods=None: starts.append(methods))
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("EXPLAIN_WARM_UP", setting)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not app.exception and len(starts) == started


@pytest.mark.parametrize("setting, started", [("1", ["mnist_cnn"]), ("0", [])])
def test_loading_a_model_starts_its_own_warm_up_unless_turned_off(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                                   setting: str, started: list[str]) -> None:
    from explain import warmup

    starts: list[str] = []
    monkeypatch.setattr(warmup, "start_warm_up", lambda methods=None: None)
    monkeypatch.setattr(warmup, "start_model_warm_up", lambda predictor: starts.append(predictor.name))
    monkeypatch.setenv("EXPLAIN_WARM_UP", setting)
    no_trouble(run_page("models", reference_model="mnist_cnn"))
    assert starts[:1] == started


def test_model_card_of_a_classifier(env: dict[str, Path]) -> None:
    app = run_page("models", reference_model="mnist_cnn")
    no_trouble(app)
    card = models.trained_cards(env["models"])["mnist_cnn"]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Test accuracy"] == f"{card['metrics']['test']['accuracy']:.2%}"
    assert metrics["Epochs run"] == str(card["training"]["epochs_run"])
    assert [t.label for t in app.tabs] == ["Training curves", "Confusion matrix", "Architecture", "Training details", "Sanity check"]
    assert "Conv2D" in app.code[0].value and "mnist_cnn" in app.code[0].value
    curves = [k for k in card["curves"] if not k.startswith("val_") and k != "learning_rate"]
    assert len(app.get("vega_lite_chart")) == len(curves) + 1  # a chart per curve, and the confusion matrix
    assert any("passed" in c.value or "FAILED" in c.value for c in app.caption)


def test_model_card_of_a_regression_model_has_residuals(env: dict[str, Path]) -> None:
    app = run_page("models", reference_model="housing_mlp")
    no_trouble(app)
    labels = [m.label for m in app.metric]
    assert labels[:3] == ["Test MAE", "Test RMSE", "Test R²"] and "4-fold CV MAE" in labels
    assert "Residuals" in [t.label for t in app.tabs]
    assert len(app.get("vega_lite_chart")) == 3  # loss and MAE curves, and the residual plot
    assert any("test rows" in c.value for c in app.caption)  # the residual plot's caption, drawn after scoring


def fake_trainer(script: str):
    """A stand-in for `explain train` (tested in test_cli.py): the page's plumbing without minutes of training."""
    import sys

    return lambda name, folder: [sys.executable, "-c", script, name, str(folder)]


def test_train_button_trains_the_model_with_progress(tmp_path: Path, tiny: dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path))
    copy = (f"import glob, shutil, sys\nfor e in (1, 2): print(f'Epoch {{e}}/2', flush=True)\n"
            f"for path in glob.glob(r'{tiny['models']}/' + sys.argv[1] + '[-.]*'):\n"  # its model file and card
            f"    shutil.copy(path, sys.argv[2])")
    monkeypatch.setattr(training, "command", fake_trainer(copy))
    app = run_page("models", reference_model="mnist_cnn")
    assert "not trained yet" in app.warning[0].value
    app.button(key="train:mnist_cnn").click().run()
    no_trouble(app)
    assert models.is_trained("mnist_cnn", tmp_path)
    assert app.success[0].value == "`mnist_cnn` is trained and saved."
    assert app.metric[0].label == "Test accuracy"  # the card is shown at once


def test_a_failed_training_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path))
    fail = "import sys; print('error: the MNIST data was not found', file=sys.stderr); sys.exit(2)"
    monkeypatch.setattr(training, "command", fake_trainer(fail))
    app = run_page("models", reference_model="mnist_cnn")
    app.button(key="train:mnist_cnn").click().run()
    assert not app.exception
    assert "error: the MNIST data was not found" in app.error[0].value and "EXPLAIN_DATA_DIR" in app.error[0].value
    assert not models.is_trained("mnist_cnn", tmp_path)


def test_training_reports_each_line_with_the_fraction_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    epochs = "for e in (1, 2, 3, 4): print(f'Epoch {e}/4', flush=True)\nprint('saved')"
    monkeypatch.setattr(training, "command", fake_trainer(epochs))
    seen: list[tuple[str, float]] = []
    ok, tail = training.train("mnist_cnn", tmp_path, lambda line, done: seen.append((line, done)))
    assert ok and tail.splitlines()[-1] == "saved"
    assert seen == [("Epoch 1/4", 0.0), ("Epoch 2/4", 0.25), ("Epoch 3/4", 0.5), ("Epoch 4/4", 0.75), ("saved", 0.75)]


def test_training_progress_follows_folds_and_epochs() -> None:
    progress = training.Progress()
    assert progress.update("Epoch 1/10") == 0.0
    assert progress.update("Epoch 6/10") == pytest.approx(0.5)
    housing = training.Progress()
    assert housing.update("[housing_mlp] cross-validation fold 3/4") == pytest.approx(2 / 5)
    assert housing.update("Epoch 1/20") == pytest.approx(4 / 5)
    assert housing.update("36/36 - 1s - loss: 3.2") == pytest.approx(4 / 5)  # other lines keep the bar where it is


def test_an_unreadable_card_gets_an_error_and_a_retrain_button(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mnist_cnn.json").write_text("{ not json", encoding="utf-8")
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path))
    app = run_page("models", reference_model="mnist_cnn")
    assert not app.exception
    assert "unreadable" in app.error[0].value and "explain train mnist_cnn" in app.error[0].value
    assert app.button(key="train:mnist_cnn").label == "Train it again"
    explain_app = run_page("explain", reference_model="mnist_cnn")
    assert not explain_app.exception and "Models" in explain_app.info[0].value


def test_missing_test_data_is_explained_not_raised(tiny: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, offline: None) -> None:
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tiny["models"]))
    monkeypatch.setenv("EXPLAIN_DATA_DIR", str(tmp_path / "no-data-here"))
    for page in ("models", "explain", "global"):
        app = run_page(page, reference_model="housing_mlp")
        assert not app.exception, page
        shown = [e.value for e in app.error] + [i.value for i in app.info]
        assert any("EXPLAIN_DATA_DIR" in message for message in shown), (page, shown)


# ---- uploaded models ---------------------------------------------------------------------------------
def test_an_uploaded_model_is_described(tmp_path: Path, zoo: dict) -> None:
    app = upload_model(keras_file(zoo["image_functional"], tmp_path), class_names="cat, dog, bird")
    no_trouble(app)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Input"] == "image" and metrics["Output"] == "multiclass" and metrics["Input shape"] == "(12, 12)"
    assert "cat, dog, bird" in " ".join(m.value for m in app.markdown)
    assert "conv_b" in app.code[0].value


@pytest.mark.parametrize("problem, data", [
    ("not a zip", b"certainly not a zip file"),
    ("a zip without a model", zip_of({"config.json": "{}", "metadata.json": "{}"})),
])
def test_a_bad_upload_gets_guidance(problem: str, data: bytes) -> None:
    app = upload_model(data)
    assert not app.exception
    assert "could not be loaded as a Keras model" in app.error[0].value, problem
    assert "model.save('name.keras')" in app.error[0].value


def test_a_model_of_unknown_input_kind_is_refused_with_guidance(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((2, 2, 2, 2))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs)), name="volume")
    app = upload_model(keras_file(model, tmp_path))
    assert not app.exception
    assert "cannot tell how to feed it" in app.error[0].value and "rows of numbers" in app.error[0].value


def test_an_upload_whose_outputs_cannot_be_read_asks_and_then_works(tmp_path: Path) -> None:
    """A linear head of three units saved without a loss: logits or three values? The sidebar says which."""
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(5, activation="relu")(inputs)), name="bare")
    app = upload_model(keras_file(model, tmp_path))
    assert not app.exception
    assert "logits of 3 classes, or 3 regression targets" in app.error[0].value and "Model outputs" in app.error[0].value
    app.selectbox(key=state.OUTPUT_KEY).set_value("logits").run()
    no_trouble(app)
    assert {m.label: m.value for m in app.metric}["Output"] == "multiclass"
    assert "**Outputs:** logit values (declared)" in [m.value for m in app.markdown]


def test_safe_mode_refuses_a_lambda_layer(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs), name="lambda_model")
    app = upload_model(keras_file(model, tmp_path))
    assert not app.exception
    assert "safe mode" in app.error[0].value


def test_too_big_an_upload_is_refused(tmp_path: Path, zoo: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "MAX_MODEL_MB", 0.001)
    app = upload_model(keras_file(zoo["tabular_classifier"], tmp_path))
    assert not app.exception
    assert "the limit is" in app.error[0].value


def test_class_names_must_match_the_outputs(tmp_path: Path, zoo: dict) -> None:
    app = upload_model(keras_file(zoo["image_functional"], tmp_path), class_names="cat, dog")
    assert not app.exception
    assert "has 3 classes but 2 class names" in app.error[0].value


# ---- the Explain page: images ---------------------------------------------------------------------------
def test_explains_a_test_image_with_gradcam_and_lime_side_by_side(env: dict[str, Path], calls: Calls) -> None:
    app = run_page("explain", reference_model="mnist_cnn")
    no_trouble(app)
    assert [s.value for s in app.subheader] == ["Prediction", "gradcam", "lime_image", "Do the methods agree?", "Report"]
    assert sorted(calls) == ["gradcam", "lime_image"]
    assert [m.label for m in app.metric].count("Deletion AUC") == 2
    assert [m.label for m in app.metric].count("Runtime") == 2
    assert len(app.image) == 3  # the test digit and two heatmaps
    downloads = {b.label: b.proto.url for b in app.download_button}
    assert downloads["JSON"].endswith(".json") and downloads["PNG"].endswith(".png")
    assert len(badges_of(app)) == 2 and [e.label for e in app.expander].count("The badge's numbers") == 2
    agreement = next(d.value for d in app.dataframe if "and method" in d.value.columns)
    assert list(agreement[["method", "and method"]].iloc[0]) == ["gradcam", "lime_image"]
    assert agreement["in words"].iloc[0] == explain_page.agreement_words(agreement["rank correlation"].iloc[0])


@pytest.mark.parametrize("model", ["mnist_cnn", "imdb_cnn", "housing_mlp"])
def test_every_method_has_a_panel(env: dict[str, Path], model: str) -> None:
    """Each method that applies, alone: its picture, its runtime and faithfulness score, its downloads."""
    app = run_page("explain", reference_model=model)
    methods = keyed(app, "multiselect", "methods:")
    modality = models.get_spec(model).dataset
    assert len(methods.options) >= 3 and set(methods.options) == set(explain.available(
        models.load(model, env["models"])))
    for method in methods.options:
        keyed(app, "multiselect", "methods:").set_value([method]).run()
        no_trouble(app)
        assert [s.value for s in app.subheader][1] == method
        labels = [m.label for m in app.metric]
        assert labels.count("Runtime") == 1 and labels.count("Deletion AUC") == 1, method
        pictures = len(app.image) - (1 if modality == "mnist" else 0)  # the test digit is an image too
        assert pictures >= 1, method
        if modality == "imdb":
            assert len(app.html) == 1, method  # highlighted tokens
        assert {b.label for b in app.download_button} >= {"JSON", "PNG"}, method
        assert len(badges_of(app)) == 1, method  # the faithfulness badge follows the picture unasked


def badges_of(app: AppTest) -> list[str]:
    """The words of each faithfulness badge on the page (st.badge renders as ':colour-badge[:icon: words]')."""
    found = [re.fullmatch(r":(\w+)-badge\[:material/\w+: (.+)\]", m.value) for m in app.markdown]
    return [f.group(2) for f in found if f is not None and f.group(1) == explain_page.BADGE_LOOKS[_level(f.group(2))][0]]


def _level(words: str) -> str:
    return next(level for level in explain_page.BADGE_LOOKS if words.split(",")[0] in
                {level, level.replace("edges", "token rarity"), level.replace("edges", "feature deviation")})


def test_a_failing_badge_is_a_caption_not_a_traceback(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(subject, e, key=None):
        raise RuntimeError("the imputation ran out of memory")

    monkeypatch.setattr(state, "badge", broken)
    app = run_page("explain", reference_model="mnist_cnn")
    no_trouble(app)
    assert badges_of(app) == [] and len(app.image) == 3  # the pictures are still there
    assert [c.value for c in app.caption].count(
        "The faithfulness badge could not be computed (RuntimeError: the imputation ran out of memory).") == 2


def test_a_large_images_badge_waits_for_a_click_and_matches_the_library(env: dict[str, Path],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from explain import metrics

    monkeypatch.setattr(state, "AUTO_BADGE_PIXELS", 0)  # every image counts as large
    app = run_page("explain", reference_model="mnist_cnn")
    no_trouble(app)
    assert badges_of(app) == []
    buttons = [b for b in app.button if b.label == "Faithfulness badge"]
    assert len(buttons) == 2  # one per method panel
    buttons[0].click().run()
    no_trouble(app)
    shown = badges_of(app)
    assert len(shown) == 1
    numbers = next(d.value for d in app.dataframe if "metric" in d.value.columns)
    assert list(numbers["metric"]) == ["deletion", "road_morf", "road_lerf"] and list(numbers["votes"]) == [True, True, False]
    reference = models.load("mnist_cnn", env["models"])
    expected = metrics.badge(reference, [explain.explain(reference, reference.test_split(limit=1)[0][0], "gradcam")])[0]
    assert shown[0] == expected.words and numbers["AUC"].iloc[0] == pytest.approx(expected.metrics[0].auc)


def test_reselecting_an_input_does_not_recompute(env: dict[str, Path], calls: Calls) -> None:
    app = run_page("explain", reference_model="mnist_cnn")

    def show(i: int) -> None:
        keyed(app, "number_input", "index:").set_value(i).run()

    show(5)
    assert len(calls) == 2  # caches and store start empty: both methods run once for index 5
    before = len(calls)
    show(6)
    assert len(calls) == before + 2  # a new input: both methods run
    show(5)
    show(6)
    no_trouble(app)
    assert len(calls) == before + 2  # inputs explained before: nothing recomputed


def test_explanations_outlive_the_memory_cache_through_the_store(env: dict[str, Path], calls: Calls) -> None:
    import streamlit as st

    from explain.store import ExplanationStore

    app = run_page("explain", reference_model="mnist_cnn")
    keyed(app, "number_input", "index:").set_value(11).run()
    no_trouble(app)
    before = len(calls)
    with ExplanationStore() as store:
        stored = store.query(model="mnist_cnn")
    assert {"gradcam", "lime_image"} <= set(stored["method"])
    st.cache_data.clear()  # what a restart of the app loses
    again = run_page("explain", reference_model="mnist_cnn")
    keyed(again, "number_input", "index:").set_value(11).run()
    no_trouble(again)
    assert len(calls) == before  # answered from the store, nothing recomputed
    assert [m.label for m in again.metric].count("Deletion AUC") == 2


def test_changing_a_method_parameter_recomputes_that_method_only(env: dict[str, Path], calls: Calls) -> None:
    app = run_page("explain", reference_model="mnist_cnn")
    keyed(app, "number_input", "index:").set_value(3).run()
    before = list(calls)
    samples = [w for w in app.number_input if w.key and w.key.endswith(":lime_image:num_samples")][0]
    assert samples.value == 1000  # the method's own default
    samples.set_value(300).run()
    no_trouble(app)
    assert calls[len(before):] == ["lime_image"]
    layer = [w for w in app.selectbox if w.key and w.key.endswith(":gradcam:layer")][0]
    conv_layers = [path for path in layer.options if path != "automatic: the last convolution"]
    assert conv_layers and all("conv" in path for path in conv_layers)


def test_another_class_can_be_explained(env: dict[str, Path], calls: Calls) -> None:
    app = run_page("explain", reference_model="mnist_cnn")
    picker = keyed(app, "selectbox", "target:")
    assert picker.value == explain_page.PREDICTED and picker.options[0] == "the predicted class"
    picker.set_value(3).run()
    no_trouble(app)
    assert calls.targets[-2:] == [3, 3]  # both methods explain class 3 now
    assert app.metric[0].label == "Predicted class"  # the prediction itself does not change


def test_a_method_that_fails_shows_why(env: dict[str, Path]) -> None:
    app = run_page("explain", reference_model="mnist_cnn")
    samples = [w for w in app.number_input if w.key and w.key.endswith(":lime_image:num_samples")][0]
    samples.set_value(1).run()
    assert not app.exception
    assert "num_samples must be at least 2" in app.error[0].value
    assert "Method parameters" in app.error[0].value
    assert [m.label for m in app.metric].count("Deletion AUC") == 1  # Grad-CAM still shown


def test_filters_pick_mistakes_and_classes(env: dict[str, Path]) -> None:
    app = run_page("explain", reference_model="mnist_cnn")
    keyed(app, "radio", "choose:").set_value("through a filter").run()
    keyed(app, "selectbox", "filter:").set_value(inputs.TRUE_CLASS).run()
    keyed(app, "selectbox", "filter_class:").set_value(3).run()
    no_trouble(app)
    match = keyed(app, "selectbox", "match:")
    assert match.options and all(" · true 3 · " in option for option in match.options)
    keyed(app, "selectbox", "filter:").set_value(inputs.CONFIDENT_MISTAKES).run()
    for option in keyed(app, "selectbox", "match:").options:
        true, predicted = option.split(" · ")[1:3]
        assert true.removeprefix("true ") != predicted.removeprefix("predicted ").split(" (")[0]


def test_a_random_test_input_is_drawn_and_redrawn(env: dict[str, Path]) -> None:
    app = run_page("explain", reference_model="mnist_cnn")
    keyed(app, "multiselect", "methods:").set_value(["gradcam"]).run()  # the fastest: this test is about inputs
    keyed(app, "radio", "choose:").set_value("at random").run()
    draw_key = f"draw:mnist_cnn:{models.trained_cards(env['models'])['mnist_cnn']['model_file']['sha256']}"
    shown = lambda: app.image[0].captions[0]  # noqa: E731
    assert shown() == f"test image #{app.session_state[draw_key]}"
    draws = set()
    for _ in range(4):
        keyed(app, "button", "redraw:").click().run()
        draws.add(app.session_state[draw_key])
        assert shown() == f"test image #{app.session_state[draw_key]}"
    no_trouble(app)
    assert len(draws) > 1  # four draws from 100 test images: all equal with probability 1e-6


def test_candidates_order_mistakes_and_errors() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    y = np.array([0, 0, 0, 1])
    assert list(inputs.candidates(probabilities, y, inputs.MISCLASSIFIED)) == [1, 2]
    assert list(inputs.candidates(probabilities, y, inputs.CONFIDENT_MISTAKES)) == [1, 2]
    assert list(inputs.candidates(probabilities[::-1], y[::-1], inputs.CONFIDENT_MISTAKES)) == [2, 1]
    assert list(inputs.candidates(probabilities, y, inputs.PREDICTED_CLASS, 1)) == [1, 2, 3]
    assert list(inputs.candidates(probabilities, y, inputs.TRUE_CLASS, 1)) == [3]
    assert list(inputs.candidates(np.array([10.0, 50.0, 19.0]), np.array([12.0, 20.0, 20.0]),
                                  inputs.LARGEST_ERRORS)) == [1, 0, 2]


def test_an_uploaded_image_is_converted_visibly_and_explained(env: dict[str, Path]) -> None:
    paper = np.full((60, 40), 250, dtype=np.uint8)
    paper[10:50, 18:22] = 10  # a dark "1" on light paper
    app = run_page("explain", reference_model="mnist_cnn")
    keyed(app, "radio", "input_kind:").set_value(inputs.UPLOAD_IMAGE).run()
    keyed(app, "file_uploader", "image:").upload("one.png", png(paper), "image/png")
    app.run()
    no_trouble(app)
    steps = [caption for image in app.image for caption in image.captions]
    assert steps[:4] == ["your image", "grey, inverted (light ink on black)", "cropped to the drawing, centred",
                         "28×28, as the model sees it"]
    assert [s.value for s in app.subheader][1:3] == ["gradcam", "lime_image"]


def test_an_unreadable_image_gets_an_error(env: dict[str, Path]) -> None:
    app = run_page("explain", reference_model="mnist_cnn")
    keyed(app, "radio", "input_kind:").set_value(inputs.UPLOAD_IMAGE).run()
    keyed(app, "file_uploader", "image:").upload("broken.png", b"\x89PNG but not really", "image/png")
    app.run()
    assert not app.exception
    assert "could not be read as an image" in app.error[0].value and "PNG or JPEG" in app.error[0].value
    assert "Prediction" not in [s.value for s in app.subheader]


def test_a_huge_image_is_refused_from_its_header_before_decoding() -> None:
    import io

    from PIL import Image

    for side, words in ((20_000, "more pixels than the limit of 25,000,000"),  # Pillow refuses it at open
                        (6_000, "6,000 x 6,000 pixels, above the limit of 25,000,000")):  # ours, from the header
        buffer = io.BytesIO()
        Image.new("L", (side, side)).save(buffer, format="PNG")  # a few hundred KiB at most
        assert len(buffer.getvalue()) < 2 << 20
        with pytest.raises(ValueError, match=words):
            imaging.to_model_image(buffer.getvalue(), (28, 28))


def test_image_conversion_matches_the_model_input() -> None:
    paper = np.full((50, 30), 255, dtype=np.uint8)
    paper[5:45, 12:18] = 0
    grey, steps = imaging.to_model_image(png(paper), (28, 28))
    assert grey.shape == (28, 28) and grey.dtype == np.float32
    assert grey.max() > 200 and grey[0, 0] == 0  # inverted: light stroke on a black border
    centre = grey[:, 10:18].mean()
    assert centre > 3 * grey[:, :6].mean()  # the stroke is centred
    channel, _ = imaging.to_model_image(png(paper), (28, 28, 1), scale=1.0)
    assert channel.shape == (28, 28, 1) and channel.max() <= 1.0
    colour, colour_steps = imaging.to_model_image(png(paper), (16, 16, 3))
    assert colour.shape == (16, 16, 3) and len(colour_steps) == 2
    for shape in ((8,), (None, None, 3), (28, 28, 4)):
        with pytest.raises(ValueError, match="not a fixed-size image"):
            imaging.to_model_image(png(paper), shape)


# ---- the Explain page: texts and tabular rows --------------------------------------------------------------
def test_a_typed_review_is_explained_token_by_token(env: dict[str, Path]) -> None:
    app = run_page("explain", reference_model="imdb_cnn")
    keyed(app, "radio", "input_kind:").set_value(inputs.TYPE_REVIEW).run()
    keyed(app, "text_area", "review:").input("A great and wonderful film, superb acting.").run()
    no_trouble(app)
    assert [s.value for s in app.subheader][1:3] == ["gradcam", "lime_text"]
    highlighted = [h.proto.body for h in app.html]
    assert len(highlighted) == 2 and all(">wonderful</span>" in body for body in highlighted)
    assert all("raises the score" in body for body in highlighted)  # the legend


@pytest.mark.parametrize("review", ["   ", "?!? ..."])
def test_an_empty_review_gets_an_error(env: dict[str, Path], review: str) -> None:
    app = run_page("explain", reference_model="imdb_cnn")
    keyed(app, "radio", "input_kind:").set_value(inputs.TYPE_REVIEW).run()
    keyed(app, "text_area", "review:").input(review).run()
    assert not app.exception
    assert "no words the model reads" in app.error[0].value
    assert not app.subheader


def test_a_test_review_is_explained(env: dict[str, Path]) -> None:
    app = run_page("explain", reference_model="imdb_cnn")
    no_trouble(app)
    assert {m.label: m.value for m in app.metric}["Predicted class"] in ("negative", "positive")
    assert len(app.html) == 2


def test_what_if_moves_the_prediction_and_the_explanations(env: dict[str, Path], calls: Calls) -> None:
    app = run_page("explain", reference_model="housing_mlp")
    no_trouble(app)
    assert [s.value for s in app.subheader][1:3] == ["kernel_shap", "lime_tabular"]
    assert [t.label for t in app.tabs].count("waterfall") == 2  # both have a base value
    assert [m.label for m in app.metric].count("Additivity error") == 1  # SHAP only: LIME is not additive
    before = {m.label: m.value for m in app.metric}["Predicted"]
    income = [w for w in app.number_input if w.label == "median_income"][0]
    explained = len(calls)
    income.set_value(income.value + 8).run()
    no_trouble(app)
    after = {m.label: m.value for m in app.metric}
    assert after["Predicted"] != before
    assert "True value" not in after  # an edited row is no longer the test row
    assert any("median_income" in c.value and "→" in c.value for c in app.caption)
    assert len(calls) == explained + 2
    app.toggle(key=[t.key for t in app.toggle][0]).set_value(True).run()  # sliders keep the edited value
    assert [w for w in app.slider if w.label == "median_income"][0].value == pytest.approx(income.value)


def test_an_uploaded_tabular_model_without_background_explains_what_it_can(tmp_path: Path, zoo: dict) -> None:
    app = upload_model(keras_file(zoo["tabular_classifier"], tmp_path), page="explain")
    assert not app.exception
    assert [w.label for w in app.number_input][:4] == ["x0", "x1", "x2", "x3"]  # the what-if row, from zeros
    assert "needs background data" in app.error[0].value  # kernel_shap without reference rows: guidance


# ---- the Global view -------------------------------------------------------------------------------------
def compute_global(model: str, n: int) -> AppTest:
    app = run_page("global", reference_model=model)
    keyed(app, "slider", "global_n:").set_value(n).run()
    assert "Compute" in app.info[0].value
    keyed(app, "button", "global_go:").click().run()
    no_trouble(app)
    return app


def test_global_view_mean_gradcam_per_class(env: dict[str, Path]) -> None:
    app = compute_global("mnist_cnn", 50)
    captions = [c for image in app.image for c in image.captions]
    assert captions and all(c.endswith(" images") for c in captions)
    assert sum(int(c.split(": ")[1].split()[0]) for c in captions) == 50  # every sampled image in one class


def test_global_view_top_tokens_per_class(env: dict[str, Path]) -> None:
    app = compute_global("imdb_cnn", 40)
    assert {m.value for m in app.markdown if m.value.startswith("**")} <= {"**negative**", "**positive**"}
    assert app.get("vega_lite_chart")


def test_global_view_shap_summary(env: dict[str, Path]) -> None:
    app = compute_global("housing_mlp", 20)
    assert len(app.get("vega_lite_chart")) == 2  # importance bars and the beeswarm
    assert "20 sampled test rows" in app.caption[-1].value


def test_global_view_needs_a_test_split(tmp_path: Path, zoo: dict) -> None:
    app = upload_model(keras_file(zoo["image_functional"], tmp_path), page="global")
    assert not app.exception
    assert "only the reference models have" in app.info[0].value


# ---- reports ------------------------------------------------------------------------------------------------
def test_report_downloads(env: dict[str, Path]) -> None:
    pytest.importorskip("explain.report")
    app = run_page("explain", reference_model="housing_mlp")
    app.button(key=[b.key for b in app.button if b.key and b.key.startswith("prepare:")][0]).click().run()
    no_trouble(app)
    urls = {b.label: b.proto.url for b in app.download_button}
    assert urls["Report (HTML)"].endswith(".html") and urls["Report (PDF)"].endswith(".pdf")


def test_agreement_in_words() -> None:
    words = [explain_page.agreement_words(r) for r in (0.9, 0.5, 0.2, 0.0, -0.5, float("nan"))]
    assert words == ["strong agreement", "moderate agreement", "weak agreement", "unrelated", "they disagree",
                     "cannot tell (one map is constant)"]
