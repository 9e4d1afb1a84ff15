"""The data layer: where files are found, and what happens when they are missing or bad."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import write_housing, write_imdb_archive, write_imdb_folder, write_mnist
from models.datasets import load_dataset, load_housing, load_imdb, load_mnist
from models.datasets.housing import FEATURE_NAMES, _keras_split
from models.errors import DatasetCorruptError, DatasetNotFoundError, UnknownModelError


def test_mnist_from_data_dir(tiny_data_dir: Path, offline: None) -> None:
    data = load_mnist(tiny_data_dir)
    assert data.x_train.shape == (200, 28, 28) and data.x_train.dtype == np.uint8
    assert data.y_test.shape == (100,) and set(data.y_test.tolist()) == set(range(10))
    assert data.class_names == tuple("0123456789")
    assert data.source == str(tiny_data_dir / "mnist.npz")


def test_data_dir_from_environment(tiny_data_dir: Path, offline: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAIN_DATA_DIR", str(tiny_data_dir))
    assert load_housing().source == str(tiny_data_dir / "california_housing.npz")


def test_keras_cache_is_used_when_no_data_dir(tmp_path: Path, offline: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLAIN_DATA_DIR", raising=False)
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    write_mnist(cache / "mnist.npz")
    assert load_mnist().source == str(cache / "mnist.npz")


def test_download_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.datasets import mnist

    monkeypatch.delenv("EXPLAIN_DATA_DIR", raising=False)
    downloaded = write_mnist(tmp_path / "downloaded.npz")
    monkeypatch.setattr(mnist, "_download", lambda: downloaded)
    assert load_mnist().source == str(downloaded)


@pytest.mark.parametrize("loader", [load_mnist, load_imdb, load_housing])
def test_offline_with_nothing_found_names_the_setting(loader, tmp_path: Path, offline: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLAIN_DATA_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError) as info:
        loader(tmp_path / "empty")
    message = str(info.value)
    assert "EXPLAIN_DATA_DIR" in message and "network is unreachable" in message
    assert any(name in message for name in ("mnist.npz", "aclImdb_v1.tar.gz", "california_housing.npz"))


def test_corrupt_npz_names_the_file(tmp_path: Path, offline: None) -> None:
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(DatasetCorruptError, match="mnist.npz"):
        load_mnist(tmp_path)


def test_truncated_npz_names_the_file(tmp_path: Path, offline: None) -> None:
    good = write_housing(tmp_path / "good.npz").read_bytes()
    (tmp_path / "california_housing.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetCorruptError, match="california_housing.npz"):
        load_housing(tmp_path)


def test_wrong_shape_is_reported(tmp_path: Path, offline: None) -> None:
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((5, 32, 32), np.uint8), y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5, np.uint8))
    with pytest.raises(DatasetCorruptError, match=r"x_train has shape \(5, 32, 32\)"):
        load_mnist(tmp_path)


def test_missing_keys_are_reported(tmp_path: Path, offline: None) -> None:
    np.savez(tmp_path / "mnist.npz", images=np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(DatasetCorruptError, match="x_train"):
        load_mnist(tmp_path)


def test_pickled_npz_is_refused_not_unpickled(tmp_path: Path, offline: None) -> None:
    np.savez(tmp_path / "mnist.npz", x_train=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(DatasetCorruptError, match="mnist.npz"):
        load_mnist(tmp_path)


def test_housing_accepts_keras_unsplit_layout(tmp_path: Path, offline: None) -> None:
    write_housing(tmp_path / "california_housing.npz", keras_layout=True)
    data = load_housing(tmp_path)
    assert (len(data.x_train), len(data.x_test)) == (320, 80)  # Keras' 80/20 split of 400 rows
    assert data.feature_names == FEATURE_NAMES and data.task == "regression"


def test_keras_split_matches_keras_loader() -> None:
    """Our split of an unsplit file is exactly the one keras.datasets.california_housing makes."""
    x = np.arange(50 * 8, dtype=np.float32).reshape(50, 8)
    y = np.arange(50, dtype=np.float32)
    x_train, y_train, x_test, y_test = _keras_split(x, y)
    indices = np.arange(50)
    np.random.RandomState(113).shuffle(indices)
    assert np.array_equal(y_train, indices[:40]) and np.array_equal(y_test, indices[40:])
    assert np.array_equal(x_train[:, 0], indices[:40] * 8)


def test_imdb_folder_and_archive_give_the_same_data(tmp_path: Path, offline: None) -> None:
    folder = write_imdb_folder(tmp_path / "as_folder")
    archive_dir = tmp_path / "as_archive"
    archive_dir.mkdir()
    write_imdb_archive(folder, archive_dir / "aclImdb_v1.tar.gz")
    from_folder, from_archive = load_imdb(tmp_path / "as_folder"), load_imdb(archive_dir)
    assert from_archive.source.endswith("aclImdb_v1.tar.gz") and from_folder.source.endswith("aclImdb")
    assert list(from_folder.x_train) == list(from_archive.x_train)
    assert np.array_equal(from_folder.y_test, from_archive.y_test)
    assert from_folder.fingerprint() == from_archive.fingerprint()


def test_imdb_texts_are_raw_strings_with_html_breaks_removed(tiny_data_dir: Path, offline: None) -> None:
    data = load_imdb(tiny_data_dir)
    assert data.x_train.dtype == object and isinstance(data.x_train[0], str)
    assert all("<br" not in text for text in data.x_train)
    assert data.class_names == ("negative", "positive")
    assert set(data.y_train.tolist()) == {0, 1}
    raw = load_imdb(tiny_data_dir, strip_html=False)
    assert any("<br />" in text for text in raw.x_train)


def test_corrupt_imdb_archive_names_the_file(tmp_path: Path, offline: None) -> None:
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated gzip")
    with pytest.raises(DatasetCorruptError, match="aclImdb_v1.tar.gz"):
        load_imdb(tmp_path)


def test_truncated_imdb_archive_names_the_file(tmp_path: Path, offline: None) -> None:
    folder = write_imdb_folder(tmp_path / "src", n_per_split=200)
    good = write_imdb_archive(folder, tmp_path / "good.tar.gz").read_bytes()
    target = tmp_path / "data"
    target.mkdir()
    (target / "aclImdb_v1.tar.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetCorruptError, match="aclImdb_v1.tar.gz"):
        load_imdb(target)


def test_imdb_folder_without_a_split_is_reported(tmp_path: Path, offline: None) -> None:
    folder = write_imdb_folder(tmp_path)
    for review in (folder / "test" / "pos").iterdir():
        review.unlink()
    with pytest.raises(DatasetCorruptError, match="test split lacks"):
        load_imdb(tmp_path)


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="mnist, imdb, california_housing"):
        load_dataset("cifar")


def test_subset_and_fingerprint(tiny_data_dir: Path, offline: None) -> None:
    data = load_mnist(tiny_data_dir)
    small = data.subset(10, 5)
    assert small.sizes() == {"train": 10, "test": 5}
    assert small.fingerprint() != data.fingerprint()
    assert data.fingerprint() == load_mnist(tiny_data_dir).fingerprint()
