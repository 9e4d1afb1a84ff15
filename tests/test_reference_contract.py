"""The reference-model contract on tiny data: build, train, save, load, card, errors.

Each model is trained for one or two epochs on a few hundred synthetic rows, so
these tests check the machinery (round trip, atomic writes, cards), not quality;
the quality gates live in tests/integration.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import models
from models import artifacts
from models.datasets import load_dataset
from models.errors import ArtifactError, ModelNotTrainedError, UnknownModelError
from models.evaluation import evaluate
from models.imdb_cnn import survives_line_storage

TINY_SPLIT_SIZES = {"mnist": (200, 100), "california_housing": (300, 100), "imdb": (40, 40)}  # see conftest
TINY_EPOCHS = {"mnist_dense": 2, "mnist_cnn": 1, "imdb_cnn": 1, "housing_mlp": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """All four reference models trained once on tiny synthetic data (module scope: ~20 s)."""
    from conftest import write_housing, write_imdb_folder, write_mnist

    data_dir = tmp_path_factory.mktemp("data")
    write_mnist(data_dir / "mnist.npz")
    write_housing(data_dir / "california_housing.npz")
    write_imdb_folder(data_dir)
    models_dir = tmp_path_factory.mktemp("artifacts")
    cards = {name: models.train(name, data_dir=data_dir, models_dir=models_dir, epochs=TINY_EPOCHS[name], verbose=0)
             for name in models.names()}
    return data_dir, models_dir, cards


@pytest.mark.parametrize("name", models.names())
def test_loaded_model_reproduces_the_card_metrics_exactly(trained, name: str) -> None:
    data_dir, models_dir, cards = trained
    reference = models.load(name, models_dir)
    data = load_dataset(reference.spec.dataset, data_dir)
    metrics = evaluate(reference.model, data.x_test, data.y_test, reference.task, with_confusion=True)
    assert metrics == cards[name]["metrics"]["test"]


@pytest.mark.parametrize("name", models.names())
def test_card_holds_what_people_need(trained, name: str) -> None:
    _, models_dir, cards = trained
    card = cards[name]
    assert card["name"] == name and card["dataset"]["fingerprint"].startswith("sha256:")
    sizes = card["dataset"]["sizes"]
    assert (sizes["train"] + sizes["validation"], sizes["test"]) == TINY_SPLIT_SIZES[models.get_spec(name).dataset]
    assert sizes["validation"] == round(models.get_spec(name).validation_split * (sizes["train"] + sizes["validation"]))
    assert card["architecture"]["parameters"] > 0 and "Total params" in card["architecture"]["summary"]
    assert card["training"]["seed"] == models.get_spec(name).seed
    assert 1 <= card["training"]["epochs_run"] <= TINY_EPOCHS[name]
    assert len(card["curves"]["loss"]) == len(card["curves"]["val_loss"]) == card["training"]["epochs_run"]
    assert card["training"]["seconds"] > 0 and card["library_versions"]["keras"].startswith("3.")
    assert card["model_file"]["sha256"] == models.provenance.file_sha256(artifacts.model_path(models_dir, name))
    assert isinstance(card["gate"]["passed"], bool)
    assert json.loads(artifacts.card_path(models_dir, name).read_text()) == card


def test_classifier_cards_have_a_confusion_matrix_and_regression_cards_cross_validation(trained) -> None:
    _, _, cards = trained
    confusion = np.array(cards["mnist_cnn"]["metrics"]["test"]["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == cards["mnist_cnn"]["dataset"]["sizes"]["test"]
    assert np.array(cards["imdb_cnn"]["metrics"]["test"]["confusion_matrix"]).shape == (2, 2)
    cv = cards["housing_mlp"]["cross_validation"]
    assert cv["folds"] == 4 and len(cv["per_fold"]) == 4 and cv["metric"] == "mae"
    assert cv["mean"] == pytest.approx(np.mean(cv["per_fold"]))


def test_reference_model_exposes_names_and_test_split(trained, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir, models_dir, _ = trained
    monkeypatch.setenv("EXPLAIN_DATA_DIR", str(data_dir))
    housing = models.load("housing_mlp", models_dir)
    assert housing.feature_names[-1] == "median_income" and housing.class_names is None
    x, y = housing.test_split(limit=7)
    assert x.shape == (7, 8) and y.shape == (7,)
    assert housing.predict(x).shape == (7, 1)
    imdb = models.load("imdb_cnn", models_dir)
    assert imdb.class_names == ["negative", "positive"]
    texts, _ = imdb.test_split(limit=3)
    assert imdb.predict(texts).shape == (3, 1)


def test_models_take_raw_inputs(trained) -> None:
    """Preprocessing lives inside the models: raw pixels, raw text and raw census columns go straight in."""
    _, models_dir, _ = trained
    digits = np.zeros((2, 28, 28), dtype=np.uint8)
    probabilities = models.load("mnist_cnn", models_dir).predict(digits)
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    sentiment = models.load("imdb_cnn", models_dir).predict(np.array(["a great film", "dull"], dtype=object))
    assert sentiment.shape == (2, 1) and np.all((sentiment >= 0) & (sentiment <= 1))


def test_text_model_vocabulary_survives_the_round_trip(trained) -> None:
    """The synthetic reviews hold 'end\\x85credits', the kind of token that broke loading in Keras 3.15."""
    _, models_dir, _ = trained
    vectorizer = models.load("imdb_cnn", models_dir).model.get_layer("vectorizer")
    vocabulary = vectorizer.get_vocabulary()
    assert "great" in vocabulary and len(vocabulary) == len(set(vocabulary))
    assert all(survives_line_storage(term) for term in vocabulary[1:])
    assert not survives_line_storage("end\x85credits") and survives_line_storage("credits")


def test_failed_training_keeps_the_previous_model_and_card(trained, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data_dir, models_dir, _ = trained
    model_file, card_file = artifacts.model_path(models_dir, "mnist_dense"), artifacts.card_path(models_dir, "mnist_dense")
    before = (model_file.read_bytes(), card_file.read_bytes())

    def crash(*args, **kwargs):
        raise RuntimeError("disk full while evaluating")

    monkeypatch.setattr("models.training.evaluate", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        models.train("mnist_dense", data_dir=data_dir, models_dir=models_dir, epochs=1, verbose=0)
    assert (model_file.read_bytes(), card_file.read_bytes()) == before
    assert not list(Path(models_dir).glob(artifacts.STAGING_PREFIX + "*"))
    models.load("mnist_dense", models_dir)


@pytest.mark.parametrize("killed_at", [1, 2, 3])
def test_a_run_killed_at_any_step_of_the_replacement_leaves_a_model_that_loads(
        trained, killed_at: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Killed moving the new file in (1), replacing the card (2) or removing the old file (3): old or new, never lost."""
    data_dir, models_dir, _ = trained
    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    before = models.load("mnist_dense", folder).card["model_file"]["sha256"]
    steps = {"n": 0}
    real_move, real_remove = artifacts._move, artifacts._remove

    def move(source, target):
        steps["n"] += 1
        if steps["n"] == killed_at:
            raise KeyboardInterrupt("killed")
        real_move(source, target)

    def remove(path):
        if killed_at == 3:
            raise KeyboardInterrupt("killed")
        real_remove(path)

    monkeypatch.setattr(artifacts, "_move", move)
    monkeypatch.setattr(artifacts, "_remove", remove)
    with pytest.raises(KeyboardInterrupt):
        models.train("mnist_dense", data_dir=data_dir, models_dir=folder, epochs=1, seed=7, verbose=0)
    monkeypatch.undo()
    after = models.load("mnist_dense", folder).card["model_file"]["sha256"]  # loads, hash-checked
    assert (after == before) == (killed_at in (1, 2))  # before the card's rename: the old model; after: the new
    assert len(list(folder.glob("mnist_dense*.keras"))) == (1 if killed_at == 1 else 2)  # at worst one orphan
    models.train("mnist_dense", data_dir=data_dir, models_dir=folder, epochs=1, verbose=0)
    assert len(list(folder.glob("mnist_dense*.keras"))) == 1
    assert not list(folder.glob(artifacts.STAGING_PREFIX + "*"))


def test_staging_folders_of_dead_runs_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{artifacts.STAGING_PREFIX}mnist_dense-999999999-abc"
    alive = tmp_path / f"{artifacts.STAGING_PREFIX}mnist_dense-{os.getpid()}-xyz"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "mnist_dense.keras").write_bytes(b"x" * 1000)
    assert artifacts.remove_stale_staging(tmp_path) == [dead]
    assert alive.exists() and not dead.exists()


def test_model_and_card_that_do_not_belong_together_are_refused(trained, tmp_path: Path) -> None:
    _, models_dir, _ = trained
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("mnist_dense", "housing_mlp"):
        for path in (artifacts.model_path(models_dir, name), artifacts.card_path(models_dir, name)):
            (copy / path.name).write_bytes(path.read_bytes())
    (copy / artifacts.model_path(copy, "mnist_dense").name).write_bytes(artifacts.model_path(copy, "housing_mlp").read_bytes())
    with pytest.raises(ArtifactError, match="does not match its card"):
        models.load("mnist_dense", copy)


def test_corrupt_card_and_corrupt_model_give_clear_errors(trained, tmp_path: Path) -> None:
    _, models_dir, _ = trained
    (tmp_path / "mnist_dense.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match="explain train mnist_dense"):
        models.load("mnist_dense", tmp_path)
    (tmp_path / "broken.keras").write_bytes(b"not a zip file")
    with pytest.raises(ArtifactError, match="broken.keras"):
        artifacts.load_keras(tmp_path / "broken.keras")


def test_untrained_and_unknown_models(tmp_path: Path) -> None:
    with pytest.raises(ModelNotTrainedError, match="explain train mnist_cnn"):
        models.load("mnist_cnn", tmp_path)
    with pytest.raises(UnknownModelError, match="mnist_dense, mnist_cnn, imdb_cnn, housing_mlp"):
        models.load("resnet50", tmp_path)
    assert not models.is_trained("mnist_cnn", tmp_path)


def test_safe_mode_refuses_code_inside_a_model_file(tmp_path: Path) -> None:
    """A .keras file with a Python lambda could run arbitrary code; loading must refuse it."""
    import keras

    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(ArtifactError, match="lambda.keras"):
        artifacts.load_keras(tmp_path / "lambda.keras")


def test_same_seed_gives_the_same_model(tmp_path: Path, tiny_data_dir: Path) -> None:
    first = models.train("housing_mlp", data_dir=tiny_data_dir, models_dir=tmp_path / "a", epochs=2, verbose=0)
    second = models.train("housing_mlp", data_dir=tiny_data_dir, models_dir=tmp_path / "b", epochs=2, verbose=0)
    assert first["curves"] == second["curves"]
    assert first["metrics"] == second["metrics"]
