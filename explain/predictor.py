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

from . import outputs

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
        output_head: str | int | None = None,
        tokenizer: Any = None,
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
        self.declared = {key for key, value in (("modality", modality), ("output", output)) if value is not None}
        if self.keras_model is not None:
            self.keras_model, self.output_head = _one_head(_built(self.keras_model), output_head)
            _check_single_input(self.keras_model)
            self.keras_model = _on_text(self.keras_model, tokenizer)
            self._forward = _compiled_forward(self.keras_model)
            self.input_shape = tuple(self.keras_model.input_shape[1:]) if input_shape is None else tuple(input_shape)
            self.input_dtype = str(getattr(self.keras_model.inputs[0], "dtype", "float32"))
            self.modality = modality or _infer_modality(self.input_shape, self.input_dtype)
            width = int(self.keras_model.output_shape[-1] or 1)
            self.output_spec = (outputs.declared(output, width, class_names) if output is not None
                                else outputs.infer(self.keras_model, _output_layer(self.keras_model)))
            self.fingerprint = self.fingerprint or _weights_fingerprint(self.keras_model)
            self.vectorizer = _find_text_vectorizer(self.keras_model) if self.modality == "text" else None
        else:
            if output_head is not None:
                raise ValueError("output_head picks one head of a multi-output Keras model; a plain function "
                                 "should return the one output to explain.")
            if tokenizer is not None:
                raise ValueError("tokenizer= turns a Keras token-id model into a text model; a plain function should "
                                 "take the strings themselves (call your tokenizer inside it).")
            self.output_head = None
            self._forward = model
            if modality is None:
                raise ValueError("A plain prediction function needs modality='image', 'text' or 'tabular'.")
            self.input_shape = tuple(input_shape) if input_shape is not None else None
            self.input_dtype = "string" if modality == "text" else "float32"
            self.modality = modality
            self.output_spec = outputs.for_function(output, class_names)
            self.fingerprint = "callable:" + getattr(model, "__qualname__", type(model).__name__)
            self.vectorizer = None
            if self.output_spec.task == "multiclass" and not class_names and self.output_spec.width is None:
                raise ValueError("A plain multiclass prediction function needs class_names, one per output column.")
        if self.modality not in ("image", "text", "tabular"):
            raise ValueError(f"modality must be 'image', 'text' or 'tabular', got {self.modality!r}.")
        self.class_names = tuple(class_names) if class_names is not None else None
        self._check_class_names()
        self.feature_names = tuple(feature_names) if feature_names is not None else None
        self._background = background
        self.calls = 0  # forward batches run: the benchmarks read this
        self.evaluations = 0  # inputs evaluated

    @property
    def output(self) -> str:
        """The task: ``"multiclass"``, ``"binary"`` or ``"regression"`` (the scale is ``output_scale``)."""
        return self.output_spec.task

    @property
    def output_scale(self) -> str:
        """``"probability"``, ``"logit"`` or ``"value"``: what the numbers the model returns are."""
        return self.output_spec.scale

    @property
    def n_outputs(self) -> int:
        """Columns the model returns (a plain binary function: 1 until it is first called)."""
        return self.output_spec.width or 1

    def _check_class_names(self) -> None:
        n = self.output_spec.n_classes
        if self.class_names is not None and n is not None and len(self.class_names) != n:
            raise ValueError(f"Got {len(self.class_names)} class names for a model with {n} classes.")

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
            self.output_spec = self.output_spec.with_width(chunks[-1].shape[1])
            self.calls += 1
        self.evaluations += n
        return np.concatenate(chunks, axis=0)

    __call__ = predict

    @property
    def n_classes(self) -> int | None:
        return self.output_spec.n_classes

    def target_scores(self, outputs: np.ndarray, target: int | None) -> np.ndarray:
        """The explained quantity, one value per row of ``outputs`` (from :meth:`predict`)."""
        return self.output_spec.scores(outputs, target)

    def score(self, x: Any, target: int | None) -> np.ndarray:
        return self.target_scores(self.predict(x), target)

    def default_target(self, outputs_row: np.ndarray) -> int | None:
        """The predicted class for one row of outputs; ``None`` for regression."""
        return self.output_spec.default_target(outputs_row)

    def explained_output(self, target: int | None) -> str:
        """Words for what an explanation of ``target`` explains (never a logit called a probability)."""
        return self.output_spec.label(target, self.class_name(target))

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
            "output_scale": self.output_scale,
            "output_width": self.n_outputs,
            "output_how": self.output_spec.how,
            "output_head": self.output_head,
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


def _built(model: Any) -> Any:
    """The model itself, once it has inputs: an unbuilt Sequential model has no shape to explain."""
    try:
        model.inputs  # noqa: B018 - raises for a model never built or called
    except (AttributeError, ValueError) as exc:
        raise ValueError(
            f"Model {model.name!r} is not built yet, so its input shape is unknown: build it with "
            "model.build((None, *input_shape)), give its first layer an Input, or call it once on a batch."
        ) from exc
    if not model.inputs:
        raise ValueError(f"Model {model.name!r} has no inputs; build it or call it once on a batch first.")
    return model


def _head_names(model: Any) -> list[str]:
    names = getattr(model, "output_names", None)
    return list(names) if names else [f"output_{i}" for i in range(len(model.outputs))]


def _one_head(model: Any, head: str | int | None) -> tuple[Any, str | None]:
    """``(model for one head, head name)``: a multi-output model is explained one head at a time."""
    import keras

    outputs = model.outputs
    if len(outputs) == 1:
        if head not in (None, 0, *_head_names(model)):
            raise ValueError(f"Model {model.name!r} has a single output; output_head={head!r} does not name it.")
        return model, None
    names = _head_names(model)
    listed = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names))
    if head is None:
        raise ValueError(f"Model {model.name!r} has {len(outputs)} outputs ({listed}); choose the one to explain "
                         "with output_head= (a name or an index).")
    index = names.index(head) if isinstance(head, str) and head in names else head
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(outputs):
        raise ValueError(f"output_head={head!r} is not one of the model's outputs ({listed}).")
    return keras.Model(model.inputs, outputs[index], name=f"{model.name}__{names[index]}"), names[index]


def _on_text(model: Any, tokenizer: Any) -> Any:
    """A token-id model with its tokenizer, as one model of raw strings (so every text method applies)."""
    import keras

    takes_ids = _reads_token_ids(model)
    if tokenizer is None:
        if takes_ids:
            raise ValueError(
                f"Model {model.name!r} reads token ids (its first layer is an Embedding): pass its tokenizer, "
                "Predictor(model, tokenizer=...) with the TextVectorization layer or the vocabulary list "
                "(index 0 padding, 1 unknown), so it can be explained on words."
            )
        return model
    if not takes_ids:
        raise ValueError(f"tokenizer= is for models that read token ids; model {model.name!r} does not start with an Embedding.")
    length = model.input_shape[1] if len(model.input_shape) == 2 else None
    if isinstance(tokenizer, keras.layers.TextVectorization):
        vectorizer = tokenizer
        produced = vectorizer.get_config().get("output_sequence_length")
        if length is not None and produced not in (None, length):
            raise ValueError(f"The tokenizer pads to {produced} tokens but the model reads {length}.")
    elif isinstance(tokenizer, (list, tuple)) and tokenizer and all(isinstance(t, str) for t in tokenizer):
        vectorizer = keras.layers.TextVectorization(vocabulary=list(tokenizer), output_sequence_length=length,
                                                    name="explain_tokenizer")
    else:
        raise TypeError("tokenizer must be a keras TextVectorization layer or a vocabulary list of strings; for a "
                        "Python tokenizer function, explain Predictor(lambda texts: model(tokenize(texts)), "
                        "modality='text', class_names=...).")
    inputs = keras.Input((1,), dtype="string", name="text")
    outputs = model(vectorizer(inputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_on_text")


def _reads_token_ids(model: Any) -> bool:
    import keras

    dtype = str(getattr(model.inputs[0], "dtype", ""))
    first = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)][:1]
    return "string" not in dtype and bool(first) and isinstance(first[0], keras.layers.Embedding)


def _check_single_input(model: Any) -> None:
    if len(model.inputs) > 1:
        names = ", ".join(repr(getattr(t, "name", f"input_{i}")) for i, t in enumerate(model.inputs))
        raise ValueError(
            f"Model {model.name!r} takes {len(model.inputs)} inputs ({names}). Explain one input at a time: wrap the "
            "model in a function of that input with the others held fixed, e.g. Predictor(lambda x: "
            "model.predict([x, fixed_meta]), modality=..., class_names=...), or a Keras model built on that input."
        )


def _weights_fingerprint(model) -> str:
    """Weights and any text vocabulary: both change what the model computes."""
    digest = hashlib.sha256()
    vectorizer = _find_text_vectorizer(model)
    if vectorizer is not None:
        digest.update("\n".join(map(str, vectorizer.get_vocabulary())).encode("utf-8"))
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
