"""The catalogue of bad inputs: one table, every door (Python API, command line, explanation store, model files,
dashboard), each case with the words its message must contain.

A case passes only if it is refused with one of the user-error types (or, on the command line, exit status 2 and
one ``error:`` line), its message says what happened in the words listed, and no traceback or internal name
leaks.  The README quotes how many cases there are (``len(CASES)``).  Add a case for every new door.
"""
from __future__ import annotations

import io
import json
import re
import sqlite3
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pytest

import zoo as z
from explain import Explanation, ExplanationStore, Predictor, explain, explain_batch
from explain.cli import main
from explain.loading import load_keras
from explain.store import StoreError

USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, NotADirectoryError)
LEAKS = ("Traceback", "File \"/", "site-packages", "self.", "NoneType")


@dataclass(frozen=True)
class Bad:
    door: str  # api, cli, store, file, dashboard
    what: str
    run: Callable[[Any], Any]  # given the context; raises, or (cli) returns the exit status, or (dashboard) the error
    expect: str  # regex the message must match


# ---- the context: tiny models and files, made once -------------------------------------------------------
@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("catalogue")
    image_model = z.image_functional()
    image_model.save(root / "image.keras")
    np.save(root / "images.npy", np.random.default_rng(0).uniform(0, 255, (3, 12, 12)).astype("float32"))
    (root / "random.npy").write_bytes(np.random.default_rng(1).bytes(3000))
    (root / "empty.npy").write_bytes(b"")
    np.save(root / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(root / "two.npz", a=np.zeros((2, 12, 12)), b=np.zeros(2))
    (root / "inputs.json").write_text("[]")
    (root / "empty.txt").write_text("\n\n")
    (root / "words.csv").write_text("a,b\nx,y\n")
    (root / "corrupt.keras").write_bytes(np.random.default_rng(2).bytes(4000))
    (root / "a_file").write_text("not a folder")
    (root / "folder").mkdir()
    (root / "random.sqlite").write_bytes(np.random.default_rng(3).bytes(5000))
    other = sqlite3.connect(root / "other.sqlite")
    other.execute("CREATE TABLE people (name TEXT)")
    other.commit()
    other.close()
    newer = sqlite3.connect(root / "newer.sqlite")
    newer.execute("PRAGMA user_version = 99")
    newer.commit()
    newer.close()
    _archives(root / "image.keras", root)
    background = z.tabular_data(20, seed=1)
    return SimpleNamespace(
        root=root, image=Predictor(image_model, background=np.zeros((1, 12, 12))), text=Predictor(z.text_model()),
        linear=Predictor(z.tabular_linear(), background=background), linear_bare=Predictor(z.tabular_linear()),
        classifier=Predictor(z.tabular_classifier(), background=background), image_model=image_model,
        x=np.full((12, 12), 100.0, dtype=np.float32), row=background[0], explanation=None,
    )


def _archives(source: Path, root: Path) -> None:
    """Hostile variants of a real .keras file: an escaping member path and a JSON bomb's declared size."""
    with zipfile.ZipFile(source) as real:
        members = {item.filename: real.read(item.filename) for item in real.infolist()}
    with zipfile.ZipFile(root / "escape.keras", "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
        out.writestr("../../etc/evil.txt", "x")
    with zipfile.ZipFile(root / "bomb.keras", "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data + (b" " * (200 << 20) if name == "config.json" else b""))
    with zipfile.ZipFile(root / "no_config.keras", "w") as out:
        out.writestr("metadata.json", "{}")


def _document(c: SimpleNamespace, **changes: Any) -> str:
    if c.explanation is None:
        c.explanation = explain(c.linear, c.row, "saliency").to_dict()
    payload = {**c.explanation, **changes}
    return json.dumps({k: v for k, v in payload.items() if v is not ...})


def _cli(c: SimpleNamespace, *args: str) -> tuple[int, str]:
    return main_status(["--models-dir", str(c.root / "models"), *args])


def main_status(argv: list[str]) -> tuple[int, str]:
    """The exit status and what was printed to stderr: the last line, where the error is."""
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        status = main(argv)
    return status, err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ""


def _report(c: SimpleNamespace, *extra: str, model: str | None = None, inputs: str = "images.npy") -> tuple[int, str]:
    return _cli(c, "report", "--model", model or str(c.root / "image.keras"), "--input", str(c.root / inputs),
                "--no-scores", *extra)


def _out(c: SimpleNamespace, name: str = "r.html") -> list[str]:
    return ["-o", str(c.root / name)]


API = [
    Bad("api", "text given to an image model", lambda c: explain(c.image, "a cat", "saliency"), "takes numeric arrays, not text"),
    Bad("api", "image of the wrong shape", lambda c: explain(c.image, np.zeros((5, 5)), "saliency"), r"Expected one input of shape \(12, 12\)"),
    Bad("api", "image with NaN", lambda c: explain(c.image, np.full((12, 12), np.nan), "saliency"), "NaN or infinite"),
    Bad("api", "image with infinity", lambda c: explain(c.image, np.full((12, 12), np.inf), "saliency"), "NaN or infinite"),
    Bad("api", "complex pixels", lambda c: explain(c.image, np.zeros((12, 12), dtype=complex), "saliency"), "complex values.*x.real"),
    Bad("api", "pixels beyond float32", lambda c: explain(c.image, np.full((12, 12), 1e39), "saliency"), "beyond float32's range"),
    Bad("api", "ragged nested lists", lambda c: explain(c.image, [[1, 2], [3]], "saliency"), "numeric array"),
    Bad("api", "an empty batch", lambda c: explain_batch(c.image, np.zeros((0, 12, 12)), "saliency"), "batch is empty"),
    Bad("api", "an array of strings", lambda c: explain(c.image, np.full((12, 12), "x"), "saliency"), "numeric array, got dtype <U1"),
    Bad("api", "None as the input", lambda c: explain(c.image, None, "saliency"), "numeric array, got dtype object"),
    Bad("api", "target out of range", lambda c: explain(c.image, c.x, "saliency", target=5), "target 5 is out of range.*3 classes"),
    Bad("api", "a float target", lambda c: explain(c.image, c.x, "saliency", target=1.5), "class index"),
    Bad("api", "a bool target", lambda c: explain(c.image, c.x, "saliency", target=True), "class index"),
    Bad("api", "a string target", lambda c: explain(c.image, c.x, "saliency", target="cat"), "class index"),
    Bad("api", "targets of the wrong length", lambda c: explain_batch(c.image, np.stack([c.x] * 3), "saliency", [0, 1]), "3 inputs.*2 targets|targets.*3"),
    Bad("api", "an unknown method", lambda c: explain(c.image, c.x, "gradcamm"), "Unknown method 'gradcamm'.*gradcam"),
    Bad("api", "a method for another modality", lambda c: explain(c.image, c.x, "kernel_shap"), "kernel_shap explains tabular.*Methods for this model"),
    Bad("api", "a parameter the method lacks", lambda c: explain(c.image, c.x, "gradcam", num_samples=5), "has no parameter .num_samples.; it accepts"),
    Bad("api", "num_samples as a string", lambda c: explain(c.image, c.x, "lime_image", num_samples="100"), "parameter 'num_samples'"),
    Bad("api", "negative num_samples", lambda c: explain(c.image, c.x, "lime_image", num_samples=-5), "parameter 'num_samples'.*-5"),
    Bad("api", "zero num_samples", lambda c: explain(c.image, c.x, "lime_image", num_samples=0), "parameter 'num_samples'"),
    Bad("api", "fractional num_samples", lambda c: explain(c.image, c.x, "lime_image", num_samples=1.5), "parameter 'num_samples'"),
    Bad("api", "a string seed", lambda c: explain(c.image, c.x, "lime_image", seed="x"), "parameter 'seed'"),
    Bad("api", "negative max_evals", lambda c: explain(c.image, c.x, "partition_shap", max_evals=-10), "parameter 'max_evals'"),
    Bad("api", "zero nsamples", lambda c: explain(c.linear, c.row, "kernel_shap", nsamples=0), "parameter 'nsamples'"),
    Bad("api", "negative background_size", lambda c: explain(c.linear, c.row, "exact_shap", background_size=-1), "parameter 'background_size'"),
    Bad("api", "one integration step", lambda c: explain(c.image, c.x, "integrated_gradients", steps=1), "parameter 'steps'"),
    Bad("api", "an unknown quadrature rule", lambda c: explain(c.image, c.x, "integrated_gradients", rule="simpson"), "parameter 'rule' must be one of"),
    Bad("api", "an unknown Grad-CAM layer", lambda c: explain(c.image, c.x, "gradcam", layer="nope"), "nope.*conv_a|conv_b"),
    Bad("api", "an unknown Grad-CAM score", lambda c: explain(c.image, c.x, "gradcam", score="prob"), "parameter 'score' must be one of"),
    Bad("api", "a number given to a text model", lambda c: explain(c.text, 5, "lime_text"), "string or a list of strings"),
    Bad("api", "an empty review", lambda c: explain(c.text, "", "lime_text"), "empty once tokenized"),
    Bad("api", "a review of spaces", lambda c: explain(c.text, "   ", "lime_text"), "empty once tokenized"),
    Bad("api", "a number among reviews", lambda c: explain(c.text, ["good", 3], "lime_text"), "Text input 1 is a int"),
    Bad("api", "no reviews", lambda c: explain(c.text, [], "lime_text"), "No texts given"),
    Bad("api", "a review of a million characters", lambda c: explain(c.text, "word " * 200_000, "lime_text"), "1,000,000 characters; the limit"),
    Bad("api", "a review beyond the window", lambda c: explain(c.text, "great " * 40, "lime_text"), "truncate=True"),
    Bad("api", "a row of the wrong length", lambda c: explain(c.linear, np.zeros(3), "saliency"), "Expected one input of shape"),
    Bad("api", "a target for one regression output", lambda c: explain(c.linear, c.row, "saliency", target=1), "regression model: target must be None"),
    Bad("api", "SHAP without background", lambda c: explain(c.linear_bare, c.row, "kernel_shap"), "needs background data.*background="),
    Bad("api", "strings in a row", lambda c: explain(c.linear, ["a"] * 5, "saliency"), "numeric arrays, not text"),
    Bad("api", "store= of the wrong type", lambda c: explain(c.linear, c.row, "saliency", store=123), "store= takes an ExplanationStore"),
    Bad("api", "a plain function with store=", lambda c: explain(Predictor(z.linear_function, modality="tabular"), c.row, "occlusion", store=c.root / "s.sqlite"), "fingerprint"),
    Bad("api", "a gradient method on a function", lambda c: explain(Predictor(z.linear_function, modality="tabular"), c.row, "saliency"), "gradients or layers.*plain prediction function"),
    Bad("api", "a number as the model", lambda c: Predictor(123), "Expected a Keras model, a reference model or a prediction function"),
    Bad("api", "a function without its modality", lambda c: Predictor(z.linear_function), "needs modality="),
    Bad("api", "an unknown modality", lambda c: Predictor(z.linear_function, modality="audio"), "modality must be 'image', 'text' or 'tabular'"),
    Bad("api", "an unknown output kind", lambda c: Predictor(c.image_model, output="probs"), "output.*probabilities.*logits.*regression"),
    Bad("api", "too few class names", lambda c: Predictor(c.image_model, class_names=["a"]), "1 class names for a model with 3 classes"),
    Bad("api", "an output head on a one-output model", lambda c: Predictor(c.image_model, output_head="price"), "price"),
    Bad("api", "a token-id model without its tokenizer", lambda c: Predictor(z.token_model()), "reads token ids.*tokenizer="),
    Bad("api", "a tokenizer of the wrong type", lambda c: Predictor(z.token_model(), tokenizer=5), "tokenizer must be.*got int"),
    Bad("api", "a tokenizer of the wrong length", lambda c: Predictor(z.token_model(), tokenizer=lambda t: np.ones((len(t), 5), dtype=int)), "returns 5 tokens per text but model 'token_model' reads 12"),
    Bad("api", "a tokenizer on a string model", lambda c: Predictor(z.text_model(), tokenizer=["a", "b"]), "does not start with an Embedding"),
    Bad("api", "a never-built model", lambda c: Predictor(_unbuilt()), "not built yet"),
    Bad("api", "a tokenizer for a plain function", lambda c: Predictor(z.keyword_function, modality="text", tokenizer=["a"]), "tokenizer= turns a Keras token-id model"),
    Bad("api", "an output head for a plain function", lambda c: Predictor(z.linear_function, modality="tabular", output_head=0), "output_head picks one head"),
    Bad("api", "held inputs for a plain function", lambda c: Predictor(z.linear_function, modality="tabular", explained_input=0), "several inputs"),
    Bad("api", "a two-input model without a choice", lambda c: Predictor(_two_inputs()), "takes 2 inputs.*held fixed"),
    Bad("api", "a two-output model without a head", lambda c: Predictor(_two_outputs()), "price.*kind|output_head"),
    Bad("api", "JSON that is not JSON", lambda c: Explanation.from_json("{not json"), "Not an Explanation JSON document"),
    Bad("api", "a JSON list", lambda c: Explanation.from_json("[1, 2]"), "expected an object"),
    Bad("api", "a document missing fields", lambda c: Explanation.from_json(_document(c, attributions=..., method=...)), "missing method, attributions"),
    Bad("api", "a document with unknown keys", lambda c: Explanation.from_json(_document(c, colour="red")), "unexpected keys \\['colour'\\]"),
    Bad("api", "a document of another format", lambda c: Explanation.from_json(_document(c, format=99)), "format 99 is not supported"),
    Bad("api", "attributions as a string", lambda c: Explanation.from_json(_document(c, attributions="lots")), "'attributions' must be array, got str"),
    Bad("api", "an array of Python objects", lambda c: Explanation.from_json(_document(c, attributions={"__ndarray__": "b64", "dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="})), "must hold numbers"),
    Bad("api", "an array of broken base64", lambda c: Explanation.from_json(_document(c, attributions={"__ndarray__": "b64", "dtype": "<f8", "shape": [1], "data": "***"})), "'attributions' cannot be decoded"),
    Bad("api", "an array of the wrong size", lambda c: Explanation.from_json(_document(c, attributions={"__ndarray__": "b64", "dtype": "<f8", "shape": [9], "data": "AAAAAAAAAAA="})), "'attributions' cannot be decoded"),
    Bad("api", "an unknown modality in a document", lambda c: Explanation.from_json(_document(c, modality="audio")), "modality must be one of"),
    Bad("api", "a target as a string in a document", lambda c: Explanation.from_json(_document(c, target="seven")), "'target' must be int or null"),
    Bad("api", "a missing explanation file", lambda c: Explanation.load(c.root / "nowhere.json"), "nowhere.json"),
]


def _unbuilt():
    import keras

    return keras.Sequential([keras.layers.Dense(2)])


def _two_inputs():
    import keras

    a, b = keras.Input((3,), name="image_meta"), keras.Input((2,), name="extra")
    return keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))


def _two_outputs():
    import keras

    inputs = keras.Input((4,))
    return keras.Model(inputs, {"price": keras.layers.Dense(1)(inputs), "kind": keras.layers.Dense(2, activation="softmax")(inputs)})


def _damaged_row(c: SimpleNamespace) -> None:
    path = c.root / "damaged.sqlite"
    explain(c.linear, c.row, "saliency", store=path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE explanations SET explanation = '{\"broken\": '")
    with pytest.warns(UserWarning, match="row [0-9a-f]{16} is damaged.*recomputed and replaced"):
        again = explain(c.linear, c.row, "saliency", store=path)
    np.testing.assert_allclose(again.attributions, explain(c.linear, c.row, "saliency").attributions)
    raise ValueError("damaged row: recomputed and replaced")  # the case's message, after the checks above


def _read_only(c: SimpleNamespace) -> None:
    from explain.store import _translated

    with _translated(c.root / "ro.sqlite"):  # root can write anywhere, so SQLite's refusal is raised as it comes
        raise sqlite3.OperationalError("attempt to write a readonly database")


STORE = [
    Bad("store", "a folder as the store", lambda c: ExplanationStore(c.root / "folder"), "is a folder; pass a file path"),
    Bad("store", "a store inside a file", lambda c: ExplanationStore(c.root / "a_file" / "s.sqlite"), "a_file is a file, not a folder"),
    Bad("store", "random bytes as a store", lambda c: ExplanationStore(c.root / "random.sqlite"), "not an explanation store or is damaged"),
    Bad("store", "another SQLite database", lambda c: ExplanationStore(c.root / "other.sqlite"), "not an explanation store.*people"),
    Bad("store", "a store from a newer version", lambda c: ExplanationStore(c.root / "newer.sqlite"), "newer keras-explain.*schema 99"),
    Bad("store", "a damaged row", _damaged_row, "recomputed and replaced"),
    Bad("store", "a read-only store", _read_only, "is read-only.*writable"),
    Bad("store", "an unknown column in a query", lambda c: ExplanationStore(c.root / "q.sqlite").query(colour="red"), "Unknown store columns \\['colour'\\]"),
]

FILES = [
    Bad("file", "random bytes as .keras", lambda c: load_keras(c.root / "corrupt.keras"), "not a .keras model file.*model.save"),
    Bad("file", "a member path that escapes", lambda c: load_keras(c.root / "escape.keras"), "unsafe path"),
    Bad("file", "a JSON bomb", lambda c: load_keras(c.root / "bomb.keras"), "MiB of JSON|would expand"),
    Bad("file", "an archive without config.json", lambda c: load_keras(c.root / "no_config.keras"), "no config.json"),
    Bad("file", "a missing model file", lambda c: load_keras(c.root / "nowhere.keras"), "No model file"),
]

CLI = [
    Bad("cli", "random bytes as .npy", lambda c: _report(c, *_out(c), inputs="random.npy"), "not a .npy file of plain numbers"),
    Bad("cli", "an empty .npy", lambda c: _report(c, *_out(c), inputs="empty.npy"), "not a .npy file of plain numbers"),
    Bad("cli", "Python objects in .npy", lambda c: _report(c, *_out(c), inputs="objects.npy"), "Python objects, which are never loaded"),
    Bad("cli", "an .npz without x", lambda c: _report(c, *_out(c), inputs="two.npz"), "name the inputs 'x'"),
    Bad("cli", "a .json input", lambda c: _report(c, *_out(c), inputs="inputs.json"), "unsupported file type .json"),
    Bad("cli", "a missing input file", lambda c: _report(c, *_out(c), inputs="nowhere.npy"), "no such file"),
    Bad("cli", "an empty .txt", lambda c: _report(c, *_out(c), inputs="empty.txt"), "holds no inputs"),
    Bad("cli", "words in a .csv", lambda c: _report(c, *_out(c), inputs="words.csv"), "Cannot read --input"),
    Bad("cli", "a missing .keras", lambda c: _report(c, *_out(c), model=str(c.root / "nowhere.keras")), "No model file"),
    Bad("cli", "a corrupt .keras", lambda c: _report(c, *_out(c), model=str(c.root / "corrupt.keras")), "not a .keras model file"),
    Bad("cli", "an unknown model name", lambda c: _report(c, *_out(c), model="resnet"), "neither a reference model"),
    Bad("cli", "a folder as the report", lambda c: _report(c, "-o", str(c.root / "folder")), "it is a folder"),
    Bad("cli", "a report inside a file", lambda c: _report(c, "-o", str(c.root / "a_file" / "r.html")), "a_file is a file, not a folder"),
    Bad("cli", "a report in a missing folder", lambda c: _report(c, "-o", str(c.root / "no" / "r.html")), "does not exist; create it first"),
    Bad("cli", "--format pdf with .html", lambda c: _report(c, *_out(c), "--format", "pdf"), "name the file r.pdf"),
    Bad("cli", "a report named .txt", lambda c: _report(c, *_out(c, "r.txt")), "Unknown report format 'txt'"),
    Bad("cli", "empty --indices", lambda c: _report(c, *_out(c), "--indices", ""), "--indices is empty"),
    Bad("cli", "a backwards range", lambda c: _report(c, *_out(c), "--indices", "2-1"), "runs backwards"),
    Bad("cli", "an index out of range", lambda c: _report(c, *_out(c), "--indices", "99"), "99 is out of range; there are 3 inputs"),
    Bad("cli", "words as indices", lambda c: _report(c, *_out(c), "--indices", "first"), "use ranges and lists"),
    Bad("cli", "a method that does not apply", lambda c: _report(c, *_out(c), "--methods", "lime_text"), "lime_text cannot explain.*methods for this model"),
    Bad("cli", "too few class names", lambda c: _report(c, *_out(c), "--class-names", "a,b"), "2 class names for a model with 3 classes"),
    Bad("cli", "a store inside a file", lambda c: _report(c, *_out(c), "--methods", "saliency", "--store", str(c.root / "a_file" / "s.sqlite")), "a_file is a file, not a folder"),
    Bad("cli", "a models dir that is a file", lambda c: main_status(["--models-dir", str(c.root / "a_file"), "models"]), "a_file is a file, not a folder"),
    Bad("cli", "an audit table of another format", lambda c: _cli(c, "audit", "--model", "mnist_cnn", "--methods", "gradcam", "-o", str(c.root / "a.xlsx")), "suffix picks the format"),
    Bad("cli", "an audit limit of 0", lambda c: _cli(c, "audit", "--model", "mnist_cnn", "--methods", "gradcam", "--limit", "0", "-o", str(c.root / "a.csv")), "--limit must be at least 1"),
    Bad("cli", "an unknown audit metric", lambda c: _cli(c, "audit", "--model", "mnist_cnn", "--methods", "gradcam", "--metrics", "beauty", "-o", str(c.root / "a.csv")), "beauty"),
    Bad("cli", "an unknown audit method", lambda c: _cli(c, "audit", "--model", "mnist_cnn", "--methods", "gradcamm", "-o", str(c.root / "a.csv")), "Unknown method 'gradcamm'"),
    Bad("cli", "an audit table inside a file", lambda c: _cli(c, "audit", "--model", "mnist_cnn", "--methods", "gradcam", "-o", str(c.root / "a_file" / "a.csv")), "a_file is a file, not a folder"),
    Bad("cli", "an untrained reference model", lambda c: _cli(c, "report", "--model", "mnist_cnn", "-o", str(c.root / "r.html")), "not trained yet.*explain train mnist_cnn"),
    Bad("cli", "an unknown doctor method", lambda c: _cli(c, "doctor", str(c.root / "image.keras"), "--methods", "nope"), "Unknown method 'nope'"),
    Bad("cli", "a doctor for neither file nor name", lambda c: _cli(c, "doctor", "mymodel.h5"), "neither a .keras file nor a reference model"),
    Bad("cli", "a doctor on a corrupt file", lambda c: _cli(c, "doctor", str(c.root / "corrupt.keras")), "not a .keras model file"),
    Bad("cli", "training an unknown model", lambda c: _cli(c, "train", "resnet"), "Unknown reference model 'resnet'"),
    Bad("cli", "zero epochs", lambda c: _cli(c, "train", "mnist_dense", "--epochs", "0"), "epochs must be at least 1"),
]


def _upload_error(data: bytes, name: str = "mine.keras") -> str:
    from apptest_helpers import upload_model

    app = upload_model(data, name=name)
    assert not app.exception, [e.value for e in app.exception]
    return app.error[0].value if app.error else "(no error shown)"


def _image_error(data: bytes) -> None:
    from explain.dashboard import imaging

    imaging.to_model_image(data, (28, 28))


def _png(side: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, format="PNG")
    return buffer.getvalue()


DASHBOARD = [
    Bad("dashboard", "random bytes uploaded as a model", lambda c: _upload_error(b"certainly not a zip file"), "could not be loaded as a Keras model.*model.save"),
    Bad("dashboard", "a zip without a model", lambda c: _upload_error(_zip({"config.json": "{}", "metadata.json": "{}"})), "could not be loaded as a Keras model"),
    Bad("dashboard", "an uploaded model with an escaping path", lambda c: _upload_error((c.root / "escape.keras").read_bytes()), "unsafe path"),
    Bad("dashboard", "an uploaded JSON bomb", lambda c: _upload_error((c.root / "bomb.keras").read_bytes()), "MiB of JSON|would expand"),
    Bad("dashboard", "a 20,000 x 20,000 PNG", lambda c: _image_error(_png(20_000)), "more pixels than the limit of 25,000,000"),
    Bad("dashboard", "a 6,000 x 6,000 PNG", lambda c: _image_error(_png(6_000)), "above the limit of 25,000,000"),
    Bad("dashboard", "bytes that are not an image", lambda c: _image_error(b"\x89PNG but not really"), "could not be read as an image.*PNG or JPEG"),
    Bad("dashboard", "an empty image file", lambda c: _image_error(b""), "could not be read as an image"),
]


def _zip(files: dict[str, str]) -> bytes:
    from apptest_helpers import zip_of

    return zip_of(files)


CASES = API + STORE + FILES + CLI + DASHBOARD


def test_the_catalogue_is_large_and_covers_every_door() -> None:
    doors = {case.door for case in CASES}
    assert len(CASES) >= 100 and doors == {"api", "store", "file", "cli", "dashboard"}
    assert len({(case.door, case.what) for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{case.door}: {case.what}" for case in CASES])
def test_a_bad_input_gets_a_clear_message(case: Bad, c: SimpleNamespace) -> None:
    if case.door == "cli":
        status, message = case.run(c)
        assert status == 2 and message.startswith("error: ") and "\n" not in message, message
    elif case.door == "dashboard" and case.what.startswith(("random bytes uploaded", "a zip", "an uploaded")):
        message = case.run(c)
    else:
        with pytest.raises(USER_ERRORS + (StoreError,)) as raised:
            case.run(c)
        message = str(raised.value.args[0]) if isinstance(raised.value, KeyError) else str(raised.value)
    assert not any(leak in message for leak in LEAKS), message
    assert re.search(case.expect, message, flags=re.S), message
