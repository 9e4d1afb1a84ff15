"""Two costs Streamlit adds to every rerun of a Keras app, removed in the dashboard's process.

After each script run Streamlit calls ``gc.collect(2)`` (its hidden ``runner.postScriptGC`` option) and,
whenever Keras is imported, ``keras.backend.clear_session()``, which collects once more.  Over TensorFlow's
heap that took about 0.7 s per rerun here, paid on every click before the page counts as finished: a bare page
with Keras imported took 0.85 s from click to calm, 0.14 s with both turned off (either one alone: no change,
since each collection costs the same).  The dashboard keeps its models in ``st.cache_resource`` and builds
none per run, so those collections free nothing; Python's own collector still runs as usual.
"""
from __future__ import annotations

import functools
import sys
from typing import Any, Callable

_STREAMLITS_CLEANUP = "_clean_problem_modules"  # the function in streamlit's script runner that clears Keras


def keep_reruns_fast() -> None:
    """Turn off the post-run collection and Streamlit's Keras reset (idempotent; call at the start of each run)."""
    from streamlit import config

    if config.get_option("runner.postScriptGC"):
        config.set_option("runner.postScriptGC", False)
    keras = sys.modules.get("keras")
    if keras is not None and not getattr(keras.backend.clear_session, "kept_by_explain", False):
        keras.backend.clear_session = _unless_streamlit_cleanup(keras.backend.clear_session)


def _unless_streamlit_cleanup(clear_session: Callable[..., Any]) -> Callable[..., Any]:
    """``clear_session`` for every caller but Streamlit's after-run cleanup."""

    @functools.wraps(clear_session)
    def kept(*args: Any, **kwargs: Any) -> Any:
        if sys._getframe(1).f_code.co_name == _STREAMLITS_CLEANUP:
            return None
        return clear_session(*args, **kwargs)

    kept.kept_by_explain = True  # type: ignore[attr-defined]
    return kept
