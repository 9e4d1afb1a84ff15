"""The dashboard, driven headlessly with Streamlit's AppTest."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import models

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_lists_untrained_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    table = app.dataframe[0].value
    assert list(table["model"]) == models.names()
    assert set(table["status"]) == {"untrained"}
    assert "explain train --missing" in app.info[0].value


def test_shows_a_trained_model_card(tmp_path: Path, tiny_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models.train("mnist_dense", data_dir=tiny_data_dir, models_dir=tmp_path, epochs=1, verbose=0)
    monkeypatch.setenv("EXPLAIN_MODELS_DIR", str(tmp_path))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    table = app.dataframe[0].value.set_index("model")
    assert table.loc["mnist_dense", "status"] == "trained"
    assert table.loc["mnist_dense", "metric"].startswith("accuracy = ")
    assert any("mnist_dense: model card" in e.label for e in app.expander)
