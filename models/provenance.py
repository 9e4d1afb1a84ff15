"""Facts recorded with every trained model and explanation so results can be reproduced (the engine's own)."""
from __future__ import annotations

from explain.provenance import TRACKED_PACKAGES, file_sha256, library_versions

__all__ = ["TRACKED_PACKAGES", "file_sha256", "library_versions"]
