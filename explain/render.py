"""Pure functions from an :class:`Explanation` to a figure or an HTML fragment.

Nothing here computes attributions: the dashboard, the reports and a user's
notebook all draw the same pictures from the same ``Explanation``, whatever
method made it (the shap habit: plots take an explanation and nothing else).

Colours always mean the same thing: red raises the explained score, blue lowers
it, and the scale is symmetric around zero so that white is "no effect".
"""
from __future__ import annotations

import base64
import html as html_lib
import io
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # reports and the dashboard render off-screen; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .explanation import Explanation
from .formatting import number

if TYPE_CHECKING:
    import pandas as pd

CMAP = "RdBu_r"  # red = raises the explained score, blue = lowers it
POSITIVE, NEGATIVE = "#d6604d", "#4393c3"

HOW_TO_READ: dict[str, str] = {
    "image": (
        "The heatmap is laid over the input image. Red regions raise the score of the explained class, "
        "blue regions lower it, and white or transparent regions have little effect. The colour bar gives "
        "the scale, centred on zero. Grad-CAM maps are coarse (one value per cell of the last convolution, "
        "smoothed); LIME colours whole segments; SHAP colours pixels."
    ),
    "text": (
        "Each word is coloured by how much it pushed the prediction: red words push towards the explained "
        "class, blue words push away from it, and the stronger the colour the larger the effect. Words are "
        "shown as the model reads them (lower-cased, punctuation removed); the bar chart lists the strongest ones."
    ),
    "tabular": (
        "Each bar is one input feature. Bars to the right (red) raise the prediction, bars to the left (blue) "
        "lower it; features are sorted by the size of their effect. For SHAP the bars add up, from the base "
        "value (the average prediction over the background data) to this prediction."
    ),
}


# ---- text --------------------------------------------------------------------------------------
def caption(explanation: Explanation) -> str:
    """One line that names what was explained: method, target and its probability, runtime."""
    parts = [explanation.method]
    prediction = np.ravel(explanation.prediction)
    if explanation.target is None:
        if prediction.size:
            parts.append(f"prediction {number(prediction[0])}")
    else:
        name = explanation.target_name or str(explanation.target)
        logit = dict(explanation.meta.get("model") or {}).get("output_scale") == "logit"
        parts.append(f"class {name} ({'logit' if logit else 'p'} = {_target_probability(explanation, logit):.3g})")
    seconds = explanation.meta.get("seconds")
    if isinstance(seconds, (int, float)):
        parts.append(f"{seconds:.3g} s")
    return " · ".join(parts)


def _target_probability(explanation: Explanation, logit: bool = False) -> float:
    """The target's probability (or its logit, for a model that returns logits)."""
    prediction = np.ravel(explanation.prediction)
    if prediction.size == 1:  # a single sigmoid (or logit) of class 1
        if explanation.target == 1:
            return float(prediction[0])
        return float(-prediction[0] if logit else 1.0 - prediction[0])
    return float(prediction[int(explanation.target)])


# ---- figures ----------------------------------------------------------------------------------
def figure(explanation: Explanation, *, max_features: int = 15) -> Figure:
    """The usual picture for the explanation's modality (heatmap overlay or signed bar chart)."""
    if explanation.modality == "image":
        return _heatmap(explanation)
    return _bars(explanation, max_features=max_features)


def input_figure(explanation: Explanation) -> Figure | None:
    """The input image alone, as the model saw it; ``None`` for text and tabular inputs."""
    if explanation.modality != "image":
        return None
    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    _show_image(ax, explanation.data)
    ax.set_title("input", fontsize=9)
    fig.tight_layout()
    return fig


def _heatmap(explanation: Explanation) -> Figure:
    attributions = np.asarray(explanation.attributions, dtype=float)
    fig, ax = plt.subplots(figsize=(3.8, 3.2))
    _show_image(ax, explanation.data)
    limit = float(np.max(np.abs(attributions))) or 1.0
    shown = ax.imshow(attributions, cmap=CMAP, norm=TwoSlopeNorm(0.0, -limit, limit), alpha=0.6,
                      interpolation="nearest")
    bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("attribution (red raises, blue lowers)", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(caption(explanation), fontsize=8)
    fig.tight_layout()
    return fig


def _show_image(ax: Any, data: Any) -> None:
    image = np.asarray(data, dtype=float)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3:  # colour: scale to [0, 1] for imshow
        span = image.max() - image.min()
        ax.imshow((image - image.min()) / (span or 1.0))
    else:
        ax.imshow(image, cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def _labels(explanation: Explanation) -> list[str]:
    values = np.ravel(explanation.attributions)
    if explanation.labels is not None and len(explanation.labels) == values.size:
        return [str(label) for label in explanation.labels]
    return [explanation.label_of(i) for i in range(values.size)]


def _bars(explanation: Explanation, *, max_features: int) -> Figure:
    values = np.ravel(np.asarray(explanation.attributions, dtype=float))
    labels = _labels(explanation)
    if explanation.modality == "tabular":
        labels = [f"{name} = {number(v)}" for name, v in zip(labels, np.ravel(explanation.data))]
    order = np.argsort(-np.abs(values), kind="stable")[:max_features][::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.32 * len(order) + 1.2))
    ax.barh(range(len(order)), values[order], color=[POSITIVE if v >= 0 else NEGATIVE for v in values[order]])
    ax.set_yticks(range(len(order)), [labels[i] for i in order], fontsize=8)
    ax.axvline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("attribution (right raises the score, left lowers it)", fontsize=8)
    _readable_ticks(ax)
    ax.set_title(caption(explanation), fontsize=9)
    fig.tight_layout()
    return fig


def waterfall(explanation: Explanation, *, max_features: int = 10) -> Figure:
    """From the base value to the explained output, one step per feature (largest effects first).

    Only meaningful for methods with a base value (SHAP, LIME's intercept); the
    remaining features are pooled in one step so the steps still add up.
    """
    if explanation.base_value is None:
        raise ValueError(f"{explanation.method} gives no base value, so there is no waterfall; use figure() instead.")
    values = np.ravel(np.asarray(explanation.attributions, dtype=float))
    labels = _labels(explanation)
    data = np.ravel(explanation.data) if explanation.modality == "tabular" else None
    order = list(np.argsort(-np.abs(values), kind="stable"))
    shown, rest = order[:max_features], order[max_features:]
    steps = [(f"{labels[i]} = {number(data[i])}" if data is not None else labels[i], values[i]) for i in shown]
    if rest:
        steps.append((f"{len(rest)} other features", float(values[rest].sum())))
    fig, ax = plt.subplots(figsize=(6, 0.38 * len(steps) + 1.4))
    position = float(explanation.base_value)
    for row, (_label, value) in enumerate(steps):
        ax.barh(row, value, left=position, color=POSITIVE if value >= 0 else NEGATIVE)
        ax.text(position + value, row, f" {number(value, signed=True)} ", va="center", fontsize=7,
                ha="left" if value >= 0 else "right")
        position += value
    ax.set_yticks(range(len(steps)), [label for label, _ in steps], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(float(explanation.base_value), color="grey", linestyle=":", linewidth=0.8)
    ax.axvline(position, color="black", linewidth=0.8)
    ax.margins(x=0.2)  # room for the value labels at the ends of the bars
    _readable_ticks(ax)
    ax.set_xlabel(f"base value {number(explanation.base_value)}  →  {number(position)}", fontsize=8)
    ax.set_title(caption(explanation), fontsize=9)
    fig.tight_layout()
    return fig


def _readable_ticks(ax: Any) -> None:
    """Few x ticks with thousands separators: dollar-sized values otherwise overlap (2.5e+04 style)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: number(value)))
    ax.tick_params(axis="x", labelsize=7)


# ---- audits: many explanations at once ------------------------------------------------------
def audit_gain_chart(frame: "pd.DataFrame") -> Figure | None:
    """Per method, the distribution over inputs of the deletion gain (above 0: better than random order).

    Takes the audit DataFrame (columns ``method`` and ``deletion_gain``); ``None``
    when it holds no gains, so a report of an unscored audit simply has no chart.
    """
    if "deletion_gain" not in frame or "method" not in frame or frame["deletion_gain"].isna().all():
        return None
    methods = list(frame["method"].unique())
    values = [frame.loc[frame["method"] == m, "deletion_gain"].dropna().to_numpy() for m in methods]
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(methods) + 1.6))
    ax.boxplot(values, vert=False, tick_labels=methods)
    ax.axvline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("deletion gain over random order (right of the dotted line: better than random)", fontsize=8)
    ax.set_title("Faithfulness per method, over all audited inputs", fontsize=9)
    fig.tight_layout()
    return fig


def top_features_chart(table: "pd.DataFrame | None") -> Figure | None:
    """Per method, how often each feature (token, image region) is among the strongest attributions.

    Takes the ``top_features`` table of :func:`explain.audit_summary` (columns
    ``method``, ``feature``, ``share``); at most four methods side by side, so the
    chart stays readable on a page. ``None`` when there is nothing to draw.
    """
    if table is None or len(table) == 0 or not {"method", "feature", "share"} <= set(table.columns):
        return None
    methods = list(table["method"].unique())[:4]
    rows = max(len(table[table["method"] == m]) for m in methods)
    fig, axes = plt.subplots(1, len(methods), figsize=(3.4 * len(methods), 0.3 * rows + 1.4), squeeze=False)
    for ax, method in zip(axes[0], methods):
        part = table[table["method"] == method].iloc[::-1]
        ax.barh([str(f) for f in part["feature"]], part["share"], color=POSITIVE)
        ax.set_title(method, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of inputs where it is in the top k", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def importance_shift_chart(importance: "pd.DataFrame", method: str, names: tuple[str, str] = ("A", "B"), *,
                           max_units: int = 12) -> Figure | None:
    """Model A's and model B's share of importance for the units that moved most (one method), side by side.

    Takes :attr:`explain.Comparison.importance`; ``None`` when the method has no rows.
    """
    part = importance[importance["method"] == method]
    if len(part) == 0:
        return None
    order = part["shift"].abs().sort_values(ascending=False, kind="stable").index
    part = part.loc[order].head(max_units).iloc[::-1]
    positions = np.arange(len(part))
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(part) + 1.3))
    ax.barh(positions + 0.2, part["importance_a"], height=0.4, color="#9e9e9e", label=names[0])
    ax.barh(positions - 0.2, part["importance_b"], height=0.4, color=POSITIVE, label=names[1])
    ax.set_yticks(positions, [str(u) for u in part["unit"]], fontsize=7)
    ax.set_xlabel("share of mean |attribution|", fontsize=8)
    ax.set_title(f"{method}: the largest importance shifts", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# ---- bytes and HTML ---------------------------------------------------------------------------
def png_bytes(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes; the figure is closed, so loops that render many do not leak memory."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def data_uri(fig: Figure, *, dpi: int = 110) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii")


def token_html(explanation: Explanation, *, max_tokens: int | None = None) -> str:
    """The tokens as inline-styled spans coloured by attribution, then a legend (self-contained HTML)."""
    if explanation.modality != "text":
        raise ValueError(f"token_html shows text explanations; this one explains {explanation.modality} inputs.")
    values = np.ravel(np.asarray(explanation.attributions, dtype=float))
    tokens = _labels(explanation)[:max_tokens]
    limit = float(np.max(np.abs(values))) if values.size else 0.0
    limit = limit or 1.0
    spans = []
    for token, value in zip(tokens, values):
        spans.append(
            f'<span title="{value:+.4g}" style="background:{_rgba(value / limit)};padding:1px 2px;'
            f'border-radius:3px;line-height:1.9">{html_lib.escape(token)}</span>'
        )
    hidden = len(values) - len(tokens)
    more = f" <em>… {hidden} more tokens</em>" if hidden > 0 else ""
    legend = (
        '<div style="font-size:0.8em;margin-top:6px">'
        f'<span style="background:{_rgba(1.0)};padding:1px 6px">raises the score</span> '
        f'<span style="background:{_rgba(-1.0)};padding:1px 6px">lowers the score</span> '
        f"strongest colour = {limit:.3g} (hover a word for its value)</div>"
    )
    return f'<div class="tokens" style="font-family:sans-serif">{" ".join(spans)}{more}</div>{legend}'


def _rgba(strength: float) -> str:
    strength = float(np.clip(strength, -1.0, 1.0))
    red, green, blue = (214, 96, 77) if strength >= 0 else (67, 147, 195)
    return f"rgba({red},{green},{blue},{abs(strength) * 0.85:.3f})"


def html(explanation: Explanation) -> str:
    """An HTML fragment for one explanation: highlighted tokens for text, an inline PNG otherwise."""
    title = f"<p><strong>{html_lib.escape(caption(explanation))}</strong></p>"
    if explanation.modality == "text":
        return title + token_html(explanation)
    alt = html_lib.escape(f"{explanation.method} attributions ({explanation.modality})")
    return f'{title}<img src="{data_uri(figure(explanation))}" alt="{alt}" style="max-width:100%">'
