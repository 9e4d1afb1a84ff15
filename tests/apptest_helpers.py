"""Driving the dashboard's pages headlessly (Streamlit's AppTest) and making the files users upload.

Shared by the dashboard tests and the bad-input catalogue."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from streamlit.testing.v1 import AppTest

from explain.dashboard import state

TIMEOUT = 180


def _page_script(page: str) -> None:
    from explain.dashboard import PAGES, model_page

    model_page.picker()
    PAGES[page][2]()


def run_page(page: str, **session: Any) -> AppTest:
    """One page with the sidebar, after seeding session state (e.g. the chosen model)."""
    app = AppTest.from_function(_page_script, args=(page,), default_timeout=TIMEOUT)
    for key, value in session.items():
        app.session_state[key] = value
    return app.run()


def png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def keras_file(model: Any, folder: Path) -> bytes:
    path = folder / f"{model.name}.keras"
    model.save(path)
    return path.read_bytes()


def upload_model(data: bytes, name: str = "mine.keras", class_names: str = "", page: str = "models") -> AppTest:
    app = run_page(page, model_source=state.UPLOAD, class_names=class_names)
    app.file_uploader(key=state.UPLOAD_KEY).upload(name, data)
    return app.run()


def zip_of(files: dict[str, str]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()
