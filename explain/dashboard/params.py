"""Method parameters as widgets, read from each method's dataclass fields (its one source of truth).

A new method gets its controls for free: choices and ranges come from each
parameter's declaration (``explain.methods.base.param``), and parameters
declared ``changes_result=False`` (speed knobs) are not shown.  Only the
layers of this model are looked up here.  Only values that differ from the
defaults are returned, so "default" and "set to the default" share one cache entry.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import streamlit as st

import explain
from explain.layers import convolution_layers
from explain.methods.base import declaration

AUTOMATIC = "automatic"
PER_ROW = 3


def controls(method: str, predictor: explain.Predictor, scope: str) -> dict[str, Any]:
    """Widgets for ``method``'s parameters; returns the values changed from the defaults."""
    cls = explain.get_method(method)
    hints = typing.get_type_hints(cls)
    changed: dict[str, Any] = {}
    fields = [f for f in dataclasses.fields(cls) if _shown(cls, f, hints)]
    if not fields:
        st.caption("No parameters.")
    for k, field in enumerate(fields):
        default = field.default
        if k % PER_ROW == 0:
            columns = st.columns(PER_ROW)
        with columns[k % PER_ROW]:
            value = _widget(field.name, hints.get(field.name, type(default)), default, predictor,
                            key=f"param:{scope}:{method}:{field.name}", declared=declaration(cls, field.name))
        if value != default:
            changed[field.name] = value
    return changed


def _shown(cls: type, field: dataclasses.Field, hints: dict[str, Any]) -> bool:
    declared = declaration(cls, field.name)
    if field.name.startswith("_") or not declared["changes_result"]:
        return False
    return hints.get(field.name) is not Any or declared["choices"] is not None  # free-form values (arrays) are not


def _widget(name: str, hint: Any, default: Any, predictor: explain.Predictor, key: str,
            declared: dict[str, Any]) -> Any:
    optional = _is_optional(hint)
    base = _base_type(hint)
    if name == "layer":
        layers = [path for path, _ in convolution_layers(predictor.keras_model)] if predictor.keras_model else []
        choice = st.selectbox("layer (convolution to read)", [AUTOMATIC, *layers], key=key,
                              format_func=lambda v: "automatic: the last convolution" if v == AUTOMATIC else v)
        return None if choice == AUTOMATIC else choice
    if declared["choices"] is not None:
        options = declared["choices"]
        return st.selectbox(name, options, index=options.index(default) if default in options else 0, key=key)
    if optional:
        automatic = st.checkbox(f"{name}: automatic", value=default is None, key=key + ":auto",
                                help="Leave it to the method (its documented default behaviour).")
        if automatic:
            return None
        default = 0.0 if default is None else default
    if base is bool:
        return st.checkbox(name, value=bool(default), key=key)
    low, high, help_text = declared["low"], declared["high"], declared["help"] or None
    if base is int:
        return int(st.number_input(name, value=int(default), min_value=int(low) if low is not None else 0,
                                   max_value=int(high) if high is not None else None, step=1, key=key, help=help_text))
    if base is float:
        return float(st.number_input(name, value=float(default), format="%g", key=key, help=help_text,
                                     min_value=float(low) if low is not None else None,
                                     max_value=float(high) if high is not None else None))
    return st.text_input(name, value="" if default is None else str(default), key=key)


def _is_optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _base_type(hint: Any) -> Any:
    if _is_optional(hint):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return rest[0] if len(rest) == 1 else Any
    return hint
