"""The dashboard turns off Streamlit's two after-run collections (a post-run gc and a Keras session reset)."""
from __future__ import annotations

import pytest


def test_reruns_skip_streamlits_collections_and_others_still_clear_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras
    from streamlit import config
    from streamlit.runtime.scriptrunner import script_runner

    from explain.dashboard import runtime

    calls: list[str] = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append("cleared"))
    before = config.get_option("runner.postScriptGC")
    try:
        runtime.keep_reruns_fast()
        runtime.keep_reruns_fast()  # once per rerun: wraps only once
        assert config.get_option("runner.postScriptGC") is False
        script_runner._clean_problem_modules()  # what Streamlit runs after every script run
        assert calls == []
        keras.backend.clear_session()  # anyone else still resets Keras
        assert calls == ["cleared"]
        assert not getattr(keras.backend.clear_session.__wrapped__, "kept_by_explain", False)  # not wrapped twice
    finally:
        config.set_option("runner.postScriptGC", before)
