"""The Streamlit dashboard.  For now: the reference models and their cards.

A thin layer over the public API (``models``); it holds no training or
explanation logic of its own.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd
import streamlit as st

import models
from models import settings


def model_table(cards: dict) -> pd.DataFrame:
    rows = []
    for name in models.names():
        spec = models.get_spec(name)
        card = cards.get(name)
        row = {"model": name, "data set": spec.dataset, "gate": str(spec.gate), "status": "untrained"}
        if isinstance(card, Exception):
            row["status"] = f"unreadable: {card}"
        elif card is not None:
            test = card["metrics"]["test"]
            row.update(
                status="trained",
                metric=f"{spec.gate.metric} = {test[spec.gate.metric]:.4g}",
                parameters=card["architecture"]["parameters"],
                epochs=card["training"]["epochs_run"],
                seconds=card["training"]["seconds"],
            )
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    st.set_page_config(page_title="Keras explain", layout="wide")
    st.title("Reference models")
    folder = settings.models_dir()
    st.caption(f"Models directory: `{folder.resolve()}`")
    cards = models.trained_cards()
    st.dataframe(model_table(cards), hide_index=True, width="stretch")
    untrained = [n for n in models.names() if n not in cards]
    if untrained:
        st.info(f"Not trained yet: {', '.join(untrained)}. Run `explain train --missing`.")
    for name, card in cards.items():
        if isinstance(card, dict):
            with st.expander(f"{name}: model card"):
                st.write(card["description"])
                st.line_chart(pd.DataFrame({k: v for k, v in card["curves"].items() if "loss" in k}))
                st.code(card["architecture"]["summary"], language=None)


main()
