"""The Streamlit dashboard: pages as functions over the public API (``explain``, ``models``).

``app.py`` calls :func:`main`.  Each page lives in its own small module; the
model chosen in the sidebar is shared by all of them through session state,
and everything expensive is cached in :mod:`.state`.
"""
from __future__ import annotations

import streamlit as st

from .. import settings, warmup

from . import runtime
from .pages import compare_page, explain_page, global_page, model_page

PAGES = {  # url path -> (title, icon, page function)
    "models": ("Models", ":material/model_training:", model_page.page),
    "explain": ("Explain", ":material/manage_search:", explain_page.page),
    "global": ("Global view", ":material/public:", global_page.page),
    "compare": ("Compare", ":material/compare_arrows:", compare_page.page),
}


def main() -> None:
    """One run of the app: page setup, the model picker, then the page the person is on."""
    st.set_page_config(page_title="Keras explain", page_icon=":material/manage_search:", layout="wide")
    runtime.keep_reruns_fast()  # ~0.7 s of garbage collection after every rerun otherwise (see the module)
    if settings.warm_up_enabled():
        warmup.start_warm_up()  # shap's numba compilation and lazy imports, before the first click needs them
    pages = [st.Page(run, title=title, icon=icon, url_path=path, default=path == "models")
             for path, (title, icon, run) in PAGES.items()]
    current = st.navigation(pages)
    model_page.picker()
    current.run()
