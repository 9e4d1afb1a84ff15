"""Errors a user of the reference models can act on.

Each message says what went wrong *and* what to do, so the command line and the
dashboard can show it as is, without a traceback.
"""
from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """No local copy of a data set and no way to download it."""


class DatasetCorruptError(ValueError):
    """A data file exists but cannot be read or has the wrong layout."""


class UnknownModelError(KeyError):
    """A reference-model name that is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ModelNotTrainedError(FileNotFoundError):
    """A reference model that has no saved artifact yet."""


class ArtifactError(ValueError):
    """A saved model or model card that is unreadable or inconsistent."""
