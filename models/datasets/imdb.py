"""IMDB movie-review sentiment as raw texts, from the Large Movie Review Dataset v1.0.

Reads either the extracted ``aclImdb/{train,test}/{pos,neg}`` folder or the
``aclImdb_v1.tar.gz`` archive directly (no extraction to disk needed).
"""
from __future__ import annotations

import os
import re
import tarfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DatasetCorruptError
from .base import Dataset, locate
from .npz import check

ARCHIVE = "aclImdb_v1.tar.gz"
FOLDER = "aclImdb"
ORIGIN = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
CLASS_NAMES = ("negative", "positive")
_LABELS = {"neg": 0, "pos": 1}
_REVIEW_PATH = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)

Review = tuple[str, int, int, str]  # split, label, id, text


def _download() -> Path:
    from keras.utils import get_file

    return Path(get_file(ARCHIVE, origin=ORIGIN))


def _from_folder(root: Path) -> Iterator[Review]:
    for split in ("train", "test"):
        for polarity, label in _LABELS.items():
            for path in (root / split / polarity).glob("*.txt"):
                match = _REVIEW_PATH.search(path.as_posix())
                if match:
                    yield split, label, int(match.group(3)), path.read_text(encoding="utf-8")


def _from_archive(path: Path) -> Iterator[Review]:
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            match = _REVIEW_PATH.search(member.name)
            if not (match and member.isfile()):
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            yield match.group(1), _LABELS[match.group(2)], int(match.group(3)), handle.read().decode("utf-8")


def _read(path: Path) -> list[Review]:
    try:
        reviews = list(_from_folder(path) if path.is_dir() else _from_archive(path))
    except (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError) as exc:
        raise DatasetCorruptError(
            f"{path} is not a readable Large Movie Review Dataset ({type(exc).__name__}: {exc}). "
            f"Replace it with a good copy of {ARCHIVE} or of the extracted {FOLDER}/ folder."
        ) from exc
    reviews.sort(key=lambda r: (r[0], r[1], r[2]))
    return reviews


def load_imdb(data_dir: str | os.PathLike | None = None, *, strip_html: bool = True) -> Dataset:
    """Reviews as an object array of ``str``; labels 0 = negative, 1 = positive.

    ``strip_html`` turns the corpus' ``<br />`` tags into spaces: they are markup,
    not words, and would otherwise become the most frequent "token".
    """
    path = locate(
        [FOLDER, ARCHIVE], data_dir, _download, dataset="IMDB",
        expected=f"{ARCHIVE} or the extracted {FOLDER}/ folder (train/ and test/, each with pos/ and neg/)",
    )
    reviews = _read(path)
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in ("train", "test"):
        rows = [r for r in reviews if r[0] == split]
        texts = [_HTML_BREAK.sub(" ", r[3]) if strip_html else r[3] for r in rows]
        labels = np.array([r[1] for r in rows], dtype=np.int64)
        check(len(rows) > 0, path, "IMDB", f"no {split}/pos or {split}/neg reviews found")
        check(set(labels.tolist()) == {0, 1}, path, "IMDB", f"the {split} split lacks positive or negative reviews")
        splits[split] = (np.array(texts, dtype=object), labels)
    return Dataset(
        name="imdb",
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        task="classification",
        source=str(path),
        class_names=CLASS_NAMES,
        target_name="sentiment",
        notes={"strip_html": strip_html},
    )
