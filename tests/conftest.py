"""Shared fixtures: tiny synthetic data sets on disk, and an isolated environment.

Every test gets its own empty Keras cache and models directory, so nothing a
test does can touch a developer's real artifacts or downloads.
"""
from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

POSITIVE_WORDS = ["great", "wonderful", "superb", "moving", "brilliant"]
NEGATIVE_WORDS = ["awful", "boring", "dreadful", "weak", "tedious"]


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty Keras cache and models directory per test; offline data dir only where a test sets it."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("EXPLAIN_WARM_UP", "0")  # its background CPU time would land inside other tests
    return tmp_path


@pytest.fixture(autouse=True)
def restored_main_module():
    """Put ``sys.modules["__main__"]`` back after each test.

    Streamlit's AppTest runs its script as ``__main__`` and leaves it installed;
    every process that multiprocessing (or Dask) later spawns would re-run that
    temporary script and die (``NameError: __args``).
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


def synthetic_reviews(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Reviews whose sentiment is carried by a few planted words (plus one line-separator token)."""
    rng = np.random.default_rng(seed)
    filler = ["the", "movie", "film", "plot", "actor", "scene", "was", "and", "a", "story"]
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        cue = POSITIVE_WORDS if label else NEGATIVE_WORDS
        words = list(rng.choice(filler, 12)) + list(rng.choice(cue, 3))
        rng.shuffle(words)
        # '\x85' (NEL) inside a token reproduces the IMDB vocabulary that broke Keras loading.
        texts.append(" ".join(words) + " end\x85credits<br />")
        labels.append(label)
    return texts, labels


def write_imdb_folder(root: Path, n_per_split: int = 40) -> Path:
    for split, seed in (("train", 0), ("test", 1)):
        texts, labels = synthetic_reviews(n_per_split, seed)
        for i, (text, label) in enumerate(zip(texts, labels)):
            folder = root / "aclImdb" / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_{8 if label else 2}.txt").write_text(text, encoding="utf-8")
    (root / "aclImdb" / "README").write_text("synthetic", encoding="utf-8")
    return root / "aclImdb"


def write_imdb_archive(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    return archive


def write_mnist(path: Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """Digits drawn as a bright bar whose position encodes the class: learnable in one epoch."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 10
        x = rng.integers(0, 30, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        return x, y.astype(np.uint8)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def write_housing(path: Path, n_train: int = 300, n_test: int = 100, seed: int = 0, keras_layout: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = np.column_stack([
        rng.uniform(-124, -114, n), rng.uniform(32, 42, n), rng.uniform(1, 52, n), rng.uniform(100, 5000, n),
        rng.uniform(20, 1000, n), rng.uniform(50, 3000, n), rng.uniform(20, 1000, n), rng.uniform(0.5, 15, n),
    ]).astype(np.float32)
    y = (40_000 * x[:, 7] + rng.normal(0, 10_000, n)).astype(np.float32)
    if keras_layout:
        np.savez(path, x=x, y=y)
    else:
        np.savez(path, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
    return path


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """A data directory with all three reference data sets in miniature."""
    root = tmp_path / "data"
    root.mkdir()
    write_mnist(root / "mnist.npz")
    write_housing(root / "california_housing.npz")
    write_imdb_folder(root)
    return root


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every download attempt fails as it does on a machine without internet."""
    from models.datasets import housing, imdb, mnist

    def refuse() -> Path:
        raise ConnectionError("network is unreachable")

    for module in (mnist, imdb, housing):
        monkeypatch.setattr(module, "_download", refuse)


# ---- tiny models for the explanation engine (built once per session) -------------------------
@pytest.fixture(scope="session")
def zoo():
    """Every tiny model of tests/zoo.py, built once."""
    import zoo as z

    return {
        "image_functional": z.image_functional(),
        "image_sequential": z.image_sequential(),
        "image_nested": z.image_nested(),
        "image_binary": z.image_binary(),
        "image_regression": z.image_regression(),
        "hot_region": z.hot_region_model(),
        "tabular_linear": z.tabular_linear(),
        "tabular_classifier": z.tabular_classifier(),
        "text_model": z.text_model(),
    }


@pytest.fixture(scope="session")
def images():
    """A batch of 3 random (12, 12) raw-pixel images."""
    return np.random.default_rng(0).integers(0, 256, size=(3, 12, 12)).astype(np.float32)
