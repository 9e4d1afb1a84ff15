"""A fast, batched prediction function that knows what it is predicting.

Wraps a Keras model, a loaded reference model, or a plain callable.  Keras
models are called through one ``tf.function`` on large batches, never through
``model.predict`` in a loop (about 0.1 s of overhead per call on these
machines, more than a thousand forward passes of a small model).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

OUTPUT_KINDS = ("multiclass", "binary", "regression")
DEFAULT_BATCH = 512
MASK_TOKEN = "UNKWORDZ"  # out of vocabulary for any real tokenizer: a neutral "unknown word"


@dataclass(frozen=True)
class TextView:
    """A text as the model reads it: its tokens, within the model's window."""

    text: str
    tokens: tuple[str, ...]
    dropped: int  # tokens beyond the model's window, ignored by the model


class Predictor:
    """Uniform access to any model: batched outputs, target scores, modality and names.

    ``output`` is ``"multiclass"`` (one probability per class), ``"binary"`` (one
    sigmoid probability of class 1) or ``"regression"`` (one value).  Targets
    are class indices for both kinds of classifier (0 or 1 for binary), and
    ``None`` for regression.
    """

    def __init__(
        self,
        model: Any,
        *,
        modality: str | None = None,
        output: str | None = None,
        class_names: Sequence[str] | None = None,
        feature_names: Sequence[str] | None = None,
        input_shape: Sequence[int] | None = None,
        batch_size: int = DEFAULT_BATCH,
        name: str | None = None,
        background: np.ndarray | Callable[[], np.ndarray] | None = None,
    ) -> None:
        card = getattr(model, "card", None)
        if card is not None and hasattr(model, "model"):  # a models.ReferenceModel
            class_names = class_names or card.get("class_names")
            feature_names = feature_names or card.get("feature_names")
            name = name or card.get("name")
            self.fingerprint = card.get("model_file", {}).get("sha256")
            background = background if background is not None else model.train_sample
            model = model.model
        else:
            self.fingerprint = None
        self.keras_model = model if _is_keras_model(model) else None
        if self.keras_model is None and not callable(model):
            raise TypeError(f"Expected a Keras model, a reference model or a prediction function, got {type(model).__name__}.")
        self.batch_size = int(batch_size)
        self.name = name or getattr(model, "name", None) or getattr(model, "__name__", "model")
        if self.keras_model is not None:
            self._forward = _compiled_forward(self.keras_model)
            self.input_shape = tuple(self.keras_model.input_shape[1:]) if input_shape is None else tuple(input_shape)
            self.input_dtype = str(getattr(self.keras_model.inputs[0], "dtype", "float32"))
            self.modality = modality or _infer_modality(self.input_shape, self.input_dtype)
            self.output = output or _infer_output(self.keras_model)
            self.fingerprint = self.fingerprint or _weights_fingerprint(self.keras_model)
            self.vectorizer = _find_text_vectorizer(self.keras_model) if self.modality == "text" else None
            self.n_outputs = int(self.keras_model.output_shape[-1] or 1)
        else:
            self._forward = model
            if modality is None:
                raise ValueError("A plain prediction function needs modality='image', 'text' or 'tabular'.")
            self.input_shape = tuple(input_shape) if input_shape is not None else None
            self.input_dtype = "string" if modality == "text" else "float32"
            self.modality = modality
            self.output = output or ("multiclass" if class_names and len(class_names) > 2 else "binary" if class_names else "regression")
            self.fingerprint = "callable:" + getattr(model, "__qualname__", type(model).__name__)
            self.vectorizer = None
            if self.output == "multiclass" and not class_names:
                raise ValueError("A plain multiclass prediction function needs class_names, one per output column.")
            self.n_outputs = len(class_names) if self.output == "multiclass" else 1
        if self.modality not in ("image", "text", "tabular"):
            raise ValueError(f"modality must be 'image', 'text' or 'tabular', got {self.modality!r}.")
        if self.output not in OUTPUT_KINDS:
            raise ValueError(f"output must be one of {OUTPUT_KINDS}, got {self.output!r}.")
        self.class_names = tuple(class_names) if class_names is not None else None
        self.feature_names = tuple(feature_names) if feature_names is not None else None
        self._background = background
        self.calls = 0  # forward batches run: the benchmarks read this
        self.evaluations = 0  # inputs evaluated

    # ---- outputs -----------------------------------------------------------------------
    def predict(self, x: Any) -> np.ndarray:
        """Model outputs for a batch, as a float64 array of shape ``(n, k)``, computed in large batches."""
        n = len(x)
        if n == 0:
            return np.zeros((0, self.n_outputs), dtype=np.float64)
        chunks = []
        for start in range(0, n, self.batch_size):
            batch = x[start : start + self.batch_size]
            out = self._forward(_as_model_input(batch, self.modality, keras_model=self.keras_model is not None))
            chunks.append(np.asarray(out, dtype=np.float64).reshape(len(batch), -1))
            self.calls += 1
        self.evaluations += n
        return np.concatenate(chunks, axis=0)

    __call__ = predict

    @property
    def n_classes(self) -> int | None:
        if self.output == "regression":
            return None
        if self.output == "binary":
            return 2
        return self.n_outputs

    def target_scores(self, outputs: np.ndarray, target: int | None) -> np.ndarray:
        """The explained quantity, one value per row of ``outputs`` (from :meth:`predict`)."""
        outputs = np.asarray(outputs).reshape(len(outputs), -1)
        if self.output == "regression":
            return outputs[:, 0]
        if self.output == "binary":
            return outputs[:, 0] if target == 1 else 1.0 - outputs[:, 0]
        return outputs[:, int(target)]

    def score(self, x: Any, target: int | None) -> np.ndarray:
        return self.target_scores(self.predict(x), target)

    def default_target(self, outputs_row: np.ndarray) -> int | None:
        """The predicted class for one row of outputs; ``None`` for regression."""
        row = np.asarray(outputs_row).ravel()
        if self.output == "regression":
            return None
        if self.output == "binary":
            return int(row[0] >= 0.5)
        return int(np.argmax(row))

    def class_name(self, target: int | None) -> str | None:
        if target is None:
            return None
        if self.class_names and 0 <= target < len(self.class_names):
            return str(self.class_names[target])
        return str(target)

    # ---- reference data ------------------------------------------------------------------------
    @property
    def background(self) -> np.ndarray | list | None:
        """Reference inputs (a sample of training data) for SHAP, tabular LIME and deletion baselines.

        For reference models it is drawn lazily from the training split; for other
        models pass ``background=`` (an array, or a function that returns one).
        """
        if callable(self._background):
            self._background = self._background()
        if self._background is not None and self.modality != "text":
            # float: methods compute x - background, which wraps around in uint8 pixels
            self._background = np.asarray(self._background, dtype=np.float32)
        return self._background

    def require_background(self, method: str) -> np.ndarray | list:
        background = self.background
        if background is None or len(background) == 0:
            raise ValueError(
                f"{method} needs background data (a sample of typical inputs, e.g. 100 training rows): "
                "pass background=... to explain(), or build Predictor(model, background=...)."
            )
        return background

    # ---- text ------------------------------------------------------------------------------
    @property
    def window(self) -> int | None:
        """How many tokens the model reads (``None``: no fixed window)."""
        if self.vectorizer is None:
            return None
        length = self.vectorizer.get_config().get("output_sequence_length")
        return int(length) if length else None

    def text_view(self, text: str) -> TextView:
        """Split ``text`` into the tokens the model sees (its own standardisation), within the window."""
        if self.vectorizer is not None:
            tokens = [t.decode("utf-8") for t in self.vectorizer._preprocess([text])[0].numpy()]
        else:
            tokens = text.split()
        window = self.window
        dropped = max(0, len(tokens) - window) if window else 0
        return TextView(text=text, tokens=tuple(tokens[: len(tokens) - dropped]), dropped=dropped)

    @staticmethod
    def join_tokens(tokens: Sequence[str], keep: np.ndarray | None = None) -> str:
        """A text from tokens, masked positions replaced by an unknown word so positions stay put."""
        if keep is None:
            return " ".join(tokens)
        return " ".join(t if k else MASK_TOKEN for t, k in zip(tokens, keep))

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "fingerprint": self.fingerprint,
            "modality": self.modality,
            "output": self.output,
            "input_shape": list(self.input_shape) if self.input_shape else None,
        }


# ---- helpers ---------------------------------------------------------------------------------
def _is_keras_model(obj: Any) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        return False
    return isinstance(obj, keras.Model)


def _compiled_forward(model) -> Callable[[Any], np.ndarray]:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def forward(x):
        return model(x, training=False)

    def call(x):
        return forward(x).numpy()

    return call


def _as_model_input(batch: Any, modality: str, keras_model: bool):
    """Keras text models take a string tensor; plain functions get Python strings."""
    if modality == "text":
        texts = [str(t) for t in batch]
        if not keras_model:
            return texts
        import tensorflow as tf

        return tf.constant(texts)
    return np.asarray(batch, dtype=np.float32)


def _infer_modality(input_shape: tuple, dtype: str) -> str:
    if "string" in dtype:
        return "text"
    if len(input_shape) == 1:
        return "tabular"
    if len(input_shape) in (2, 3):
        return "image"
    raise ValueError(f"Cannot tell the modality of a model with input shape {input_shape}; pass modality=.")


def _output_layer(model):
    """The layer that produces the model's output, looking inside nested models."""
    import keras

    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    return layer


def _infer_output(model) -> str:
    width = int(model.output_shape[-1]) if model.output_shape[-1] is not None else 1
    activation = getattr(getattr(_output_layer(model), "activation", None), "__name__", "")
    if width > 1:
        return "multiclass"
    return "binary" if activation == "sigmoid" else "regression"


def _weights_fingerprint(model) -> str:
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight)
        digest.update(value.tobytes())
    return "weights-sha256:" + digest.hexdigest()[:32]


def _find_text_vectorizer(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.TextVectorization):
            return layer
        if isinstance(layer, keras.Model):
            found = _find_text_vectorizer(layer)
            if found is not None:
                return found
    return None
