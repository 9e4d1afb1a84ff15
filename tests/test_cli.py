"""The ``explain`` command line: listing, training, and one-line errors for user mistakes."""
from __future__ import annotations

from pathlib import Path

import pytest

from explain.cli import main


def test_models_lists_every_reference_model_as_untrained(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--models-dir", str(tmp_path), "models"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist_dense", "mnist_cnn", "imdb_cnn", "housing_mlp"):
        assert name in out
    assert out.count("untrained") == 4 and "accuracy >= 0.965" in out


def test_unknown_model_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--models-dir", str(tmp_path), "train", "resnet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Unknown reference model 'resnet'") and "mnist_cnn" in err
    assert "\n" not in err and "Traceback" not in err


def test_missing_data_is_a_one_line_error(tmp_path: Path, offline: None, capsys: pytest.CaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLAIN_DATA_DIR", raising=False)
    assert main(["--models-dir", str(tmp_path), "train", "mnist_dense", "--data-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The MNIST data set was not found") and "EXPLAIN_DATA_DIR" in err


def test_train_then_list_then_train_missing(tmp_path: Path, tiny_data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    models_dir = str(tmp_path / "models")
    args = ["--models-dir", models_dir, "train", "mnist_dense", "--epochs", "1", "--data-dir", str(tiny_data_dir)]
    assert main(args) == 0
    from models import artifacts

    model_file = artifacts.model_path(Path(models_dir), "mnist_dense")
    assert model_file.exists() and model_file.name.startswith("mnist_dense-") and (Path(models_dir) / "mnist_dense.json").exists()
    capsys.readouterr()
    assert main(["--models-dir", models_dir, "models"]) == 0
    listing = capsys.readouterr().out
    dense_line = next(line for line in listing.splitlines() if line.startswith("mnist_dense"))
    assert "trained" in dense_line and "accuracy" in dense_line
    assert listing.count("untrained") == 3


def test_train_needs_a_name_or_a_flag(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2
    assert "required" in capsys.readouterr().err


def test_bad_epochs_is_a_one_line_error(tmp_path: Path, tiny_data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--models-dir", str(tmp_path), "train", "mnist_dense", "--epochs", "0", "--data-dir", str(tiny_data_dir)]) == 2
    assert "epochs must be at least 1" in capsys.readouterr().err
