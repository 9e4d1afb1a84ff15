"""explain.testing and ``explain check``: explanation checks for a test suite and a CI gate.

The models are built so that the right answer is known: a linear image model whose gradient x input is the
image itself (so attribution lies exactly where the ink is), plain tabular functions that do or do not use a
"protected" feature, and a linear tabular model whose saliency (|w|) and occlusion (w x) disagree by design.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import explain
import explain.testing as xt
from explain.cli import main

SHAPE = (12, 12)
FEATURES = ["sex", "income", "age", "zip"]


def _linear_image_model():
    """p(class 1) = softmax(0.01 * sum of pixels): gradient x input on class 1 is 0.01 x the image."""
    import keras
    from keras import layers

    inputs = keras.Input(SHAPE, name="pixels")
    dense = layers.Dense(2, name="head")
    outputs = layers.Softmax()(dense(layers.Flatten()(inputs)))
    dense.set_weights([np.stack([np.zeros(144), np.full(144, 0.01)], axis=1).astype(np.float32), np.zeros(2, np.float32)])
    return keras.Model(inputs, outputs, name="linear_image")


def _images() -> np.ndarray:
    """Inputs 0 and 2 have their ink top-left (rows/cols 1-3), inputs 1 and 3 bottom-right (rows/cols 8-10)."""
    x = np.zeros((4,) + SHAPE, dtype=np.float32)
    x[[0, 2], 1:4, 1:4] = 200.0
    x[[1, 3], 8:11, 8:11] = 200.0
    x[2, 2, 2] = 120.0  # inputs differ, so nothing is answered by accident from an identical one
    return x


@pytest.fixture(scope="module")
def image_model():
    return _linear_image_model()


def _tabular_rows() -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 0.3, (6, 4))
    rows[:, 0] = [2, -2, 2, -2, 2, -2]  # the protected feature deviates strongly from the background mean (0)
    return rows


def _tabular(fn, name: str):
    return explain.Predictor(fn, modality="tabular", output="regression", feature_names=FEATURES,
                             background=np.zeros((10, 4)), name=name)


def uses_sex(x):
    x = np.asarray(x, dtype=float)
    return (3 * x[:, 0] + x[:, 1]).reshape(-1, 1)


def ignores_sex(x):
    x = np.asarray(x, dtype=float)
    return (x[:, 1] + 0.5 * x[:, 2] + 0.2 * x[:, 3]).reshape(-1, 1)


# ---- mass_inside ---------------------------------------------------------------------------------
def test_mass_inside_passes_where_the_model_looks_and_names_the_inputs_that_look_elsewhere(image_model) -> None:
    x = _images()
    box = (0, 0, 6, 6)  # top-left quarter: where inputs 0 and 2 have their ink
    inside = xt.check_mass_inside(image_model, x[[0, 2]], "gradient_x_input", box, at_least=0.99, targets=1)
    assert inside.passed and inside.failures == ()
    assert inside.values == pytest.approx((1.0, 1.0))

    with pytest.raises(xt.ExplanationCheckFailed) as caught:
        xt.assert_mass_inside(image_model, x, "gradient_x_input", box, at_least=0.8, targets=1)
    result = caught.value.result
    assert isinstance(caught.value, AssertionError)
    assert result.failures == (1, 3) and not result.passed
    assert result.values == pytest.approx((1.0, 0.0, 1.0, 0.0))
    message = str(caught.value)
    assert message.startswith("FAIL mass_inside gradient_x_input on linear_image: 2/4 inputs >= 0.8 positive mass inside")
    assert "input 1: 0.000 of positive mass inside, below 0.8 by 0.800" in message
    assert "input 3: 0.000" in message and "input 0:" not in message and "input 2:" not in message


def test_mass_inside_takes_masks_per_input_regions_and_a_pass_rate(image_model) -> None:
    x = _images()
    mask = np.zeros(SHAPE, dtype=bool)
    mask[8:, 8:] = True
    flipped = xt.check_mass_inside(image_model, x, "gradient_x_input", mask, at_least=0.5, targets=1, by="abs")
    assert flipped.failures == (0, 2)
    # the ink's own bounding box: every input passes, wherever its ink is
    digit = xt.check_mass_inside(image_model, x, "gradient_x_input", xt.bounding_box(above=0), at_least=0.99, targets=1)
    assert digit.passed and digit.values == pytest.approx((1.0,) * 4)
    half = xt.check_mass_inside(image_model, x, "gradient_x_input", (0, 0, 6, 6), at_least=0.8, targets=1, pass_rate=0.5)
    assert half.passed and half.failures == (1, 3)  # 2 of 4 pass, as asked; the failing ones are still named
    assert "(needs 50%)" in half.summary() and "input 3" in half.report()
    with pytest.raises(ValueError, match="shape"):
        xt.check_mass_inside(image_model, x, "gradient_x_input", np.ones((5, 5), bool), at_least=0.5, targets=1)


def test_mass_inside_on_tokens_and_features() -> None:
    import zoo

    text = explain.Predictor(zoo.keyword_function, modality="text", name="keywords")
    reviews = ["a great film", "an awful plot", "the cast was great"]
    on_cues = xt.check_mass_inside(text, reviews, "occlusion", {"great", "AWFUL"}, at_least=0.99, by="abs")
    assert on_cues.passed and on_cues.values == pytest.approx((1.0,) * 3)
    on_filler = xt.check_mass_inside(text, reviews, "occlusion", {"film", "plot"}, at_least=0.5, by="abs")
    assert on_filler.failures == (0, 1, 2)

    model = _tabular(uses_sex, "uses_sex")
    rows = _tabular_rows()
    share = xt.check_mass_inside(model, rows, "occlusion", {"sex"}, at_least=0.5, by="abs")
    assert share.passed and min(share.values) > 0.7
    with pytest.raises(ValueError, match="no feature named 'gender'.*sex, income, age, zip"):
        xt.check_mass_inside(model, rows, "occlusion", {"gender"}, at_least=0.5)


# ---- never_in_top_k ------------------------------------------------------------------------------
def test_never_in_top_k_catches_a_model_that_uses_the_protected_feature() -> None:
    rows = _tabular_rows()
    fair = xt.assert_never_in_top_k(_tabular(ignores_sex, "ignores_sex"), rows, "occlusion", {"sex"}, k=2)
    assert fair.passed and min(fair.values) > 2  # sex ranks below the top 2 everywhere (its attribution is 0)

    with pytest.raises(AssertionError) as caught:
        xt.assert_never_in_top_k(_tabular(uses_sex, "uses_sex"), rows, "occlusion", ["sex"], k=2)
    result = caught.value.result  # type: ignore[attr-defined]
    assert result.failures == tuple(range(6)) and result.values == (1.0,) * 6
    message = str(caught.value)
    assert "never_in_top_k occlusion on uses_sex: 0/6 inputs without sex in the top 2" in message
    assert "input 0: 'sex' ranked 1 of 4 (attribution 6), top 2 forbidden" in message
    assert "input 5: 'sex' ranked 1 of 4 (attribution -6)" in message


def test_never_in_top_k_on_tokens() -> None:
    import zoo

    text = explain.Predictor(zoo.keyword_function, modality="text", name="keywords")
    reviews = ["a great film", "the plot was dull"]
    result = xt.check_never_in_top_k(text, reviews, "occlusion", "great", k=1)
    assert result.failures == (0,) and result.values[1] == float("inf")  # not in review 1 at all


# ---- methods_agree -------------------------------------------------------------------------------
def _weighted_model():
    """y = 4 a + 3 b + 2 c + d: saliency is |w| = (4, 3, 2, 1) whatever the row; occlusion is w x (background 0)."""
    import keras
    from keras import layers

    inputs = keras.Input((4,))
    dense = layers.Dense(1)
    outputs = dense(inputs)
    dense.set_weights([np.array([[4.0], [3.0], [2.0], [1.0]], np.float32), np.zeros(1, np.float32)])
    model = keras.Model(inputs, outputs, name="weighted")
    return explain.Predictor(model, feature_names=FEATURES, background=np.zeros((10, 4), np.float32))


def test_methods_agree_per_input() -> None:
    model = _weighted_model()
    rows = np.array([[0.1, 1.0, 2.0, 4.0],    # occlusion (0.4, 3, 4, 4): ranks nearly reversed against |w|
                     [4.0, 2.0, 1.0, 0.1]],   # occlusion (16, 6, 2, 0.1): the same order as |w|
                    dtype=np.float32)
    rank = xt.check_methods_agree(model, rows, "saliency", "occlusion", at_least=0.5)
    assert rank.failures == (0,) and rank.values[1] == pytest.approx(1.0) and rank.values[0] < 0
    assert rank.method == "saliency vs occlusion" and "spearman_abs" in rank.reasons[0]
    top = xt.check_methods_agree(model, rows, "saliency", "occlusion", at_least=1.0, metric="top_k", k=1)
    assert top.values == (0.0, 1.0) and top.failures == (0,)
    with pytest.raises(xt.ExplanationCheckFailed, match="input 0: spearman_abs -0.\\d+, below 0.5 by"):
        xt.assert_methods_agree(model, rows, "saliency", "occlusion", at_least=0.5)
    xt.assert_methods_agree(model, rows[1:], "saliency", "occlusion", at_least=0.99)
    with pytest.raises(ValueError, match="metric must be one of"):
        xt.check_methods_agree(model, rows, "saliency", "occlusion", at_least=0.5, metric="pearson")


# ---- faithful ------------------------------------------------------------------------------------
def test_faithful_with_the_real_badge() -> None:
    from explain.evaluation import badge

    model = _tabular(uses_sex, "uses_sex")
    rows = _tabular_rows()[:3]
    result = xt.check_faithful(model, rows, "occlusion")
    badges = badge.badge(model, explain.explain_batch(model, rows, "occlusion"))
    assert result.values == tuple(b.verdict for b in badges)
    assert result.failures == tuple(i for i, b in enumerate(badges) if not b.passes("beats random"))


def test_faithful_names_the_inputs_short_of_the_level_and_refuses_unknown_levels() -> None:
    from explain.evaluation import badge

    model = _tabular(uses_sex, "uses_sex")
    rows = _tabular_rows()[:3]
    strict = xt.check_faithful(model, rows, "occlusion", at_least="beats random and edges")
    badges = badge.badge(model, explain.explain_batch(model, rows, "occlusion"))
    assert strict.failures == tuple(i for i, b in enumerate(badges) if not b.passes("beats random and edges"))
    for i in strict.failures:
        assert f"verdict {badges[i].verdict!r}, short of 'beats random and edges'" in strict.reasons[i]
    assert xt.faithful_levels() == badge.LEVELS + ("beats random",)
    with pytest.raises(ValueError, match="at_least must be one of"):
        xt.check_faithful(model, rows, "occlusion", at_least="great")


def test_faithful_keeps_the_badge_in_the_store_and_reads_it_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explain.evaluation import badge, scoring

    model = _tabular(uses_sex, "uses_sex")
    model.fingerprint = "uses_sex v1"  # a Python function needs a versioned fingerprint to be stored
    rows = _tabular_rows()[:3]
    first = xt.check_faithful(model, rows, "occlusion", store=tmp_path / "store.sqlite")
    for module in (badge, scoring):
        monkeypatch.setattr(module, "badge_scores", lambda *a, **k: pytest.fail("the stored badge was recomputed"))
    again = xt.check_faithful(model, rows, "occlusion", store=tmp_path / "store.sqlite")
    assert again.values == first.values and again.failures == first.failures
    with pytest.raises(pytest.fail.Exception, match="recomputed"):  # options other than the defaults compute afresh
        xt.check_faithful(model, rows, "occlusion", store=tmp_path / "store.sqlite", badge_options={"n_random": 3})


# ---- explain check -------------------------------------------------------------------------------
@pytest.fixture()
def image_files(tmp_path: Path, image_model) -> Path:
    image_model.save(tmp_path / "linear.keras")
    np.save(tmp_path / "images.npy", _images())
    return tmp_path


def _spec(folder: Path, text: str) -> str:
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


IMAGE_SPEC = """\
model: linear.keras
inputs: {{file: images.npy, indices: {indices}}}
checks:
  - name: looks at the ink
    kind: mass_inside
    method: gradient_x_input
    targets: 1
    region: {{bounding_box: {{above: 0}}}}
    at_least: 0.99
  - name: top-left only
    kind: mass_inside
    method: gradient_x_input
    targets: 1
    region: {{box: [0, 0, 6, 6]}}
    at_least: 0.8
"""


def test_check_command_exit_0_when_every_check_passes(image_files: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", _spec(image_files, IMAGE_SPEC.format(indices="[0, 2]"))]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PASS looks at the ink: mass_inside gradient_x_input on linear_image: 2/2 inputs")
    assert out[1].startswith("PASS top-left only: mass_inside") and "min 1, mean 1" in out[1]
    assert out[-1].startswith("2 of 2 checks passed on 2 inputs")


def test_check_command_exit_1_names_the_failing_inputs_by_their_index(image_files: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    assert main(["check", _spec(image_files, IMAGE_SPEC.format(indices="'1-3'"))]) == 1
    out = capsys.readouterr().out
    assert "PASS looks at the ink" in out
    assert "FAIL top-left only: mass_inside gradient_x_input on linear_image: 1/3 inputs >= 0.8" in out
    # indices 1-3 of the file: the failing ones are named as the file's inputs 1 and 3, not positions 0 and 2
    assert "  input 1: 0.000 of positive mass inside, below 0.8 by 0.800" in out and "  input 3: 0.000" in out
    assert "input 2:" not in out and "1 of 2 checks passed on 3 inputs" in out


def test_check_command_on_rows_with_feature_names(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _weighted_model().keras_model.save(tmp_path / "weighted.keras")
    rows = np.array([[0.1, 1.0, 2.0, 4.0], [4.0, 2.0, 1.0, 0.1], [-4.1, -3.0, -3.0, -4.1]])  # column means 0: the
    # CLI's background for a .keras model is the file's rows, so occlusion is w x as in test_methods_agree_per_input
    np.savetxt(tmp_path / "rows.csv", rows, delimiter=",", header=",".join(FEATURES), comments="")
    spec = _spec(tmp_path, """\
model: weighted.keras
inputs: rows.csv
checks:
  - {name: sex never decides, kind: never_in_top_k, method: occlusion, features: [sex], k: 1}
  - {name: saliency agrees with occlusion, kind: methods_agree, methods: [saliency, occlusion], at_least: 0.5}
""")
    assert main(["check", spec]) == 1
    out = capsys.readouterr().out
    assert "FAIL sex never decides: never_in_top_k occlusion on weighted: 1/3 inputs without sex in the top 1" in out
    assert "  input 1: 'sex' ranked 1 of 4 (attribution 16), top 1 forbidden\n" in out
    assert "  input 2: 'sex' ranked 1 of 4 (attribution -16.4)" in out and "input 0: 'sex'" not in out
    assert "FAIL saliency agrees with occlusion: methods_agree saliency vs occlusion" in out
    assert "2/3 inputs with spearman_abs >= 0.5" in out and "  input 0: spearman_abs -0.9" in out, out
    assert out.splitlines()[-1].startswith("0 of 2 checks passed on 3 inputs of")


BAD_SPECS = [
    ("checks: [{kind: mass_inside}]\nmodel: linear.keras\ninputs: images.npy\n", "checks[0] (check 1): mass_inside needs method, region, at_least"),
    ("model: linear.keras\ninputs: images.npy\nchecks: [{kind: vibes, method: gradcam}]\n", "unknown kind 'vibes'; use one of mass_inside, never_in_top_k"),
    ("model: linear.keras\ninputs: images.npy\nchecks: [{kind: faithful, method: magic}]\n", "Unknown method 'magic'; known methods:"),
    ("model: linear.keras\ninputs: nope.npy\nchecks: [{kind: faithful, method: occlusion}]\n", "inputs.file: "),
    ("model: missing.keras\ninputs: images.npy\nchecks: [{kind: faithful, method: occlusion}]\n", "model: "),
    ("model: linear.keras\ninputs: images.npy\nchecks: [{kind: mass_inside, method: occlusion, region: {box: [0, 0, 6, 6]}, threshold: 0.5}]\n",
     "unknown field 'threshold'; the fields are name, kind, targets, pass_rate, method, region, at_least"),
    ("model: linear.keras\ninputs: images.npy\nchecks: [{kind: mass_inside, method: occlusion, region: {box: [0, 0, 6, 6]}, at_least: 5}]\n",
     "at_least: a number between 0 and 1"),
    ("model: linear.keras\ninputs: images.npy\nchecks: [{kind: mass_inside, method: occlusion, region: {circle: 3}, at_least: 0.5}]\n",
     "region: one of {box:"),
    ("model: linear.keras\ninputs: images.npy\nchecks: [{kind: faithful, method: occlusion, at_least: superb}]\n",
     "at_least: one of 'no better than random'"),
    ("model: linear.keras\ninputs: images.npy\nchecks: [{kind: methods_agree, methods: [occlusion], at_least: 0.5}]\n",
     "methods: a list of two different methods"),
    ("model: linear.keras\ninputs: images.npy\nchecks: []\n", "checks: give a non-empty list of checks"),
    ("model: linear.keras\ninputs: images.npy\nchecks:\n  - kind: faithful\n   method: occlusion\n", "not valid YAML (line 5"),
    ("!!python/object/apply:os.system ['touch pwned']\n", "not valid YAML"),
    ("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "YAML anchors (&name) are not allowed"),
    ("model: linear.keras\ninputs: {split: test}\nchecks: [{kind: faithful, method: occlusion}]\n", "give inputs.file"),
    ("- just\n- a list\n", "expected a mapping with model, inputs and checks"),
]


@pytest.mark.parametrize(("text", "words"), BAD_SPECS, ids=[w[:30] for _, w in BAD_SPECS])
def test_bad_specs_exit_2_with_one_line_saying_what_to_fix(tmp_path: Path, text: str, words: str,
                                                            capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "linear.keras").write_bytes(b"not a model: the spec must fail before the model is read")
    np.save(tmp_path / "images.npy", _images())
    assert main(["check", _spec(tmp_path, text)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err[-1].startswith("error: ") and words in err[-1], err
    assert "Traceback" not in captured.err and "loading" not in captured.err  # refused before loading the model
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_a_missing_spec_file_and_a_method_the_model_cannot_use(image_files: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", str(image_files / "none.yaml")]) == 2
    assert "none.yaml: no such spec file" in capsys.readouterr().err
    spec = _spec(image_files, "model: linear.keras\ninputs: images.npy\nchecks:\n"
                              "  - {name: cam, kind: mass_inside, method: gradcam, region: {box: [0, 0, 6, 6]}, at_least: 0.5}\n")
    assert main(["check", spec]) == 2
    err = capsys.readouterr().err
    assert "error: cam: method 'gradcam' cannot explain linear_image; methods for this model:" in err and "saliency" in err
