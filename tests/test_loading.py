"""A user's .keras file: hostile archives are refused before Keras reads them; real ones load with their loss."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import zoo as z
from explain.loading import UnsafeModelFile, check_archive, load_keras
from explain.predictor import Predictor


@pytest.fixture(scope="module")
def saved_logits_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "logits.keras"
    z.image_logits().save(path)
    return path


def _copy_with(source: Path, target: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            new.writestr(item, old.read(item.filename))
        new.writestr(name, data)
    return target


def test_a_saved_logits_model_loads_and_is_recognised_by_its_loss(saved_logits_model: Path) -> None:
    model = load_keras(saved_logits_model)
    predictor = Predictor(model)
    assert (predictor.output, predictor.output_scale) == ("multiclass", "logit")
    assert "from_logits" in predictor.output_spec.how


def test_a_padded_archive_is_refused_before_it_is_decompressed(saved_logits_model: Path, tmp_path: Path) -> None:
    bomb = _copy_with(saved_logits_model, tmp_path / "bomb.keras", "assets/padding.json", b" " * (40 << 20))
    assert bomb.stat().st_size < 2 << 20  # a few hundred KiB on disk for 40 MiB of declared contents
    with pytest.raises(UnsafeModelFile, match="expand .* times|MiB of JSON"):
        load_keras(bomb)


def test_members_with_paths_that_escape_are_refused(saved_logits_model: Path, tmp_path: Path) -> None:
    evil = _copy_with(saved_logits_model, tmp_path / "evil.keras", "../../etc/cron.d/evil", b"x")
    with pytest.raises(UnsafeModelFile, match="unsafe path"):
        check_archive(evil)


def test_files_that_are_not_keras_archives_get_a_message(tmp_path: Path) -> None:
    text = tmp_path / "model.keras"
    text.write_text("not a zip")
    with pytest.raises(UnsafeModelFile, match="not a zip archive"):
        load_keras(text)
    empty_zip = tmp_path / "empty.keras"
    zipfile.ZipFile(empty_zip, "w").close()
    with pytest.raises(UnsafeModelFile, match="no config.json"):
        load_keras(empty_zip)
    with pytest.raises(FileNotFoundError):
        load_keras(tmp_path / "missing.keras")
