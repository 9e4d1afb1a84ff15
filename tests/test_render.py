"""Rendering draws what the Explanation says: signs, scales, labels, escaping, self-contained bytes."""
from __future__ import annotations

import base64
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from explain import render
from explain.explanation import Explanation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make(modality: str, attributions, data, *, labels=None, target=1, prediction=(0.2, 0.8), base_value=None,
         method: str = "hand") -> Explanation:
    return Explanation(
        method=method, modality=modality, target=target, attributions=np.asarray(attributions, dtype=float),
        data=data, labels=labels, prediction=np.asarray(prediction, dtype=float), base_value=base_value,
        params={}, meta={"seconds": 0.0123}, target_name="positive" if target == 1 else None,
    )


@pytest.fixture
def image_explanation() -> Explanation:
    attributions = np.zeros((6, 6))
    attributions[1, 1], attributions[4, 4] = 2.0, -0.5
    return make("image", attributions, np.arange(36, dtype=float).reshape(6, 6))


def test_caption_names_method_class_probability_and_runtime(image_explanation) -> None:
    assert render.caption(image_explanation) == "hand · class positive (p = 0.8) · 0.0123 s"
    binary = make("tabular", [1.0], np.zeros(1), labels=["a"], target=0, prediction=(0.9,))
    assert "(p = 0.1)" in render.caption(binary)  # a single sigmoid: class 0 is 1 - p
    regression = make("tabular", [1.0], np.zeros(1), labels=["a"], target=None, prediction=(123456.0,))
    assert "prediction 123,456" in render.caption(regression)


def test_heatmap_colour_scale_is_symmetric_around_zero(image_explanation) -> None:
    fig = render.figure(image_explanation)
    overlay = fig.axes[0].images[-1]
    assert overlay.norm.vmin == -2.0 and overlay.norm.vmax == 2.0 and overlay.norm.vcenter == 0.0
    assert np.array_equal(overlay.get_array(), image_explanation.attributions)
    assert len(fig.axes) == 2  # the image and its colour bar
    plt.close(fig)


def test_bar_chart_sorts_by_magnitude_keeps_sign_and_labels_values() -> None:
    e = make("tabular", [0.5, -3.0, 1.0], np.array([1.0, 2500.0, 0.25]), labels=["age", "rooms", "income"],
             target=None, prediction=(10.0,))
    fig = render.figure(e, max_features=2)
    ax = fig.axes[0]
    widths = [patch.get_width() for patch in ax.patches]
    assert widths == [1.0, -3.0]  # the two largest, strongest at the top (last drawn)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["income = 0.25", "rooms = 2,500"]
    assert ax.patches[0].get_facecolor() != ax.patches[1].get_facecolor()  # sign shown by colour
    plt.close(fig)


def test_waterfall_steps_add_up_from_base_value_to_output() -> None:
    values = [3.0, -1.0, 0.5, 0.25]
    e = make("tabular", values, np.zeros(4), labels=list("abcd"), target=None, prediction=(12.75,), base_value=10.0)
    fig = render.waterfall(e, max_features=2)
    ax = fig.axes[0]
    lefts = [patch.get_x() for patch in ax.patches]
    widths = [patch.get_width() for patch in ax.patches]
    assert lefts[0] == 10.0 and widths == [3.0, -1.0, 0.75]  # the rest pooled into one step
    assert lefts[-1] + widths[-1] == pytest.approx(12.75)
    assert ax.get_yticklabels()[-1].get_text() == "2 other features"
    plt.close(fig)
    with pytest.raises(ValueError, match="no base value"):
        render.waterfall(make("tabular", values, np.zeros(4), labels=list("abcd")))


def test_token_html_colours_by_sign_and_escapes_text() -> None:
    tokens = ["great", "<script>", "boring"]
    e = make("text", [1.0, 0.0, -0.5], tokens, labels=tokens)
    fragment = render.token_html(e)
    spans = re.findall(r'<span title="([^"]+)" style="background:rgba\((\d+),(\d+),(\d+),([\d.]+)\)', fragment)
    assert [s[0] for s in spans] == ["+1", "+0", "-0.5"]
    assert spans[0][1:4] == ("214", "96", "77") and float(spans[0][4]) == pytest.approx(0.85)  # strongest red
    assert spans[2][1:4] == ("67", "147", "195") and float(spans[2][4]) == pytest.approx(0.425)  # half-strength blue
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    assert "raises the score" in fragment and "lowers the score" in fragment
    assert "1 more tokens" in render.token_html(e, max_tokens=2)
    with pytest.raises(ValueError, match="text explanations"):
        render.token_html(make("tabular", [1.0], np.zeros(1), labels=["a"]))


def test_html_embeds_a_decodable_png_and_png_bytes_closes_the_figure(image_explanation) -> None:
    fragment = render.html(image_explanation)
    match = re.search(r'src="data:image/png;base64,([^"]+)"', fragment)
    assert match and base64.b64decode(match.group(1)).startswith(PNG_SIGNATURE)
    before = len(plt.get_fignums())
    data = render.png_bytes(render.figure(image_explanation))
    assert data.startswith(PNG_SIGNATURE) and len(plt.get_fignums()) == before
    assert render.input_figure(make("text", [1.0], ["a"], labels=["a"])) is None
    assert set(render.HOW_TO_READ) == {"image", "text", "tabular"}


def test_audit_charts_draw_one_row_per_method_and_skip_what_is_missing() -> None:
    import pandas as pd

    frame = pd.DataFrame({"method": ["gradcam", "lime", "gradcam", "lime"], "deletion_gain": [0.1, -0.2, 0.3, None]})
    fig = render.audit_gain_chart(frame)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["gradcam", "lime"]
    plt.close(fig)
    assert render.audit_gain_chart(frame.assign(deletion_gain=None)) is None  # an unscored audit has no chart
    assert render.audit_gain_chart(frame[["method"]]) is None
    top = pd.DataFrame({"method": ["gradcam", "gradcam", "lime"], "feature": ["a", "b", "c"], "share": [0.5, 0.25, 1.0]})
    fig = render.top_features_chart(top)
    assert [ax.get_title() for ax in fig.axes] == ["gradcam", "lime"]
    assert [p.get_width() for p in fig.axes[0].patches] == [0.25, 0.5]  # most frequent at the top (drawn last)
    plt.close(fig)
    assert render.top_features_chart(None) is None and render.top_features_chart(top.iloc[:0]) is None


def test_the_dashboard_heatmap_uses_matplotlibs_colours_and_a_symmetric_scale() -> None:
    """The numpy heatmap of the interactive page means what the report's matplotlib figure means."""
    import io

    import matplotlib
    from PIL import Image

    from explain.dashboard import heatmap

    reference = matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256))[:, :3]
    assert np.abs(heatmap.LUT - reference).max() < 1 / 255
    attributions = np.zeros((28, 28))
    attributions[:14] = 2.0  # raises: red
    attributions[14:] = -1.0  # lowers, half as much: light blue on the same symmetric scale
    e = Explanation(method="gradcam", modality="image", target=1, attributions=attributions, data=np.zeros((28, 28)),
                    labels=None, prediction=np.array([0.2, 0.8]), base_value=None, params={})
    picture = np.asarray(Image.open(io.BytesIO(heatmap.heatmap_png(e))).convert("RGB")).astype(float)
    assert picture.shape[0] == 280  # 28 pixels enlarged ten times
    top, bottom = picture[50, 50], picture[230, 50]
    np.testing.assert_allclose(top, 255 * heatmap.ALPHA * heatmap.LUT[255], atol=1.5)  # full red over black
    np.testing.assert_allclose(bottom, 255 * heatmap.ALPHA * heatmap.LUT[64], atol=1.5)  # -1 of +-2: a quarter up
    assert top[0] > top[2] and bottom[2] > bottom[0]
