"""A fast, batched prediction function that knows what it is predicting.

Wraps a Keras model, a loaded reference model, or a plain callable.  Keras
models are called through one ``tf.function`` on large batches, never through
``model.predict`` in a loop (about 0.1 s of overhead per call on these
machines, more than a thousand forward passes of a small model).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import keras_model as K
from . import outputs
from .text import MASK_TOKEN, TextCodec, TextView, find_text_vectorizer, is_tokenizer_function, on_text, through_tokenizer

__all__ = ["DEFAULT_BATCH", "MASK_TOKEN", "Predictor", "TextView"]
DEFAULT_BATCH = 512


class Predictor:
    """Uniform access to any model: batched outputs, the explained score, modality, names and reference data.

    Its parts each have one job: :mod:`explain.keras_model` reads the model's
    structure, :mod:`explain.outputs` says what the outputs mean (``output``: the
    task, ``output_scale``: probability, logit or value), :mod:`explain.text`
    says which tokens a text model reads.  Targets are class indices for every
    classifier (0 or 1 for binary), ``None`` for a single regression output.
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
        explained_input: str | int | None = None,
        held_inputs: Mapping[str, Any] | None = None,
    ) -> None:
        card = getattr(model, "card", None)
        if card is not None and hasattr(model, "model"):  # a models.ReferenceModel
            class_names = class_names or card.get("class_names")
            feature_names = feature_names or card.get("feature_names")
            name = name or card.get("name")
            background = background if background is not None else model.train_sample
            self.fingerprint: str | None = card.get("model_file", {}).get("sha256")
            model = model.model
        else:
            self.fingerprint = None
        self.keras_model = model if K.is_keras_model(model) else None
        if self.keras_model is None and not callable(model):
            raise TypeError(f"Expected a Keras model, a reference model or a prediction function, got {type(model).__name__}.")
        self.batch_size = int(batch_size)
        self.name = name or getattr(model, "name", None) or getattr(model, "__name__", "model")
        self.no_gradients: str | None = (None if K.is_keras_model(model) else
                                         "a plain prediction function has no gradients or layers")
        self.declared = {key for key, value in (("modality", modality), ("output", output)) if value is not None}
        if self.keras_model is not None:
            self.keras_model = K.one_input(K.built(self.keras_model), explained_input, held_inputs)
            self._from_keras(modality, output, class_names, input_shape, output_head, tokenizer)
        else:
            if explained_input is not None or held_inputs:
                raise ValueError("explained_input= and held_inputs= are for Keras models with several inputs; a "
                                 "plain function should take the one input to explain.")
            self._from_function(model, modality, output, class_names, input_shape, output_head, tokenizer)
        if self.modality not in ("image", "text", "tabular"):
            raise ValueError(f"modality must be 'image', 'text' or 'tabular', got {self.modality!r}.")
        self.class_names = tuple(class_names) if class_names is not None else None
        self._check_class_names()
        self.feature_names = tuple(feature_names) if feature_names is not None else None
        self._background = background
        self.calls = 0  # forward batches run: the benchmarks read this
        self.evaluations = 0  # inputs evaluated

    def _from_keras(self, modality: str | None, output: str | None, class_names: Sequence[str] | None,
                    input_shape: Sequence[int] | None, output_head: str | int | None, tokenizer: Any) -> None:
        model, self.output_head = K.one_head(self.keras_model, output_head)
        if is_tokenizer_function(tokenizer):
            self._through_tokenizer(model, tokenizer, modality, output, class_names)
            return
        self.keras_model = model = on_text(model, tokenizer)
        self._forward = K.compiled_forward(model)
        self.input_shape: tuple[int, ...] | None = (tuple(model.input_shape[1:]) if input_shape is None
                                                    else tuple(input_shape))
        self.input_dtype = str(getattr(model.inputs[0], "dtype", "float32"))
        self.modality = modality or K.infer_modality(self.input_shape, self.input_dtype)
        width = int(model.output_shape[-1] or 1)
        self.output_spec = (outputs.declared(output, width, class_names) if output is not None
                            else outputs.infer(model, K.output_layer(model)))
        self.fingerprint = self.fingerprint or K.weights_fingerprint(model)
        self.text = TextCodec(find_text_vectorizer(model) if self.modality == "text" else None)

    def _through_tokenizer(self, model: Any, tokenizer: Callable, modality: str | None, output: str | None,
                           class_names: Sequence[str] | None) -> None:
        """A token-id model read through a Python tokenizer: a function of strings whose outputs the model declares."""
        if modality not in (None, "text"):
            raise ValueError(f"tokenizer= makes a text model; got modality={modality!r}.")
        self._forward = through_tokenizer(model, tokenizer, K.compiled_forward(model))
        self.keras_model = None
        self.no_gradients = ("its Python tokenizer function runs outside the Keras graph; pass the tokenizer as a "
                             "TextVectorization layer or a vocabulary list to use gradient and layer methods")
        self.input_shape, self.input_dtype, self.modality = None, "string", "text"
        width = int(model.output_shape[-1] or 1)
        self.output_spec = (outputs.declared(output, width, class_names) if output is not None
                            else outputs.infer(model, K.output_layer(model)))
        # "callable:": the tokenizer may change under the same name, so the store asks for a version, as for functions
        qualname = getattr(tokenizer, "__qualname__", type(tokenizer).__name__)
        self.fingerprint = f"callable:tokenizer {qualname} into {self.fingerprint or K.weights_fingerprint(model)}"
        self.text = TextCodec(None)

    def _from_function(self, function: Callable, modality: str | None, output: str | None,
                       class_names: Sequence[str] | None, input_shape: Sequence[int] | None,
                       output_head: str | int | None, tokenizer: Any) -> None:
        if output_head is not None:
            raise ValueError("output_head picks one head of a multi-output Keras model; a plain function "
                             "should return the one output to explain.")
        if tokenizer is not None:
            raise ValueError("tokenizer= turns a Keras token-id model into a text model; a plain function should "
                             "take the strings themselves (call your tokenizer inside it).")
        if modality is None:
            raise ValueError("A plain prediction function needs modality='image', 'text' or 'tabular'.")
        self.output_head = None
        self._forward = function
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.input_dtype = "string" if modality == "text" else "float32"
        self.modality = modality
        self.output_spec = outputs.for_function(output, class_names)
        self.fingerprint = "callable:" + getattr(function, "__qualname__", type(function).__name__)
        self.text = TextCodec(None)
        if self.output_spec.task == "multiclass" and not class_names and self.output_spec.width is None:
            raise ValueError("A plain multiclass prediction function needs class_names, one per output column.")

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
            out = self._forward(K.as_model_input(batch, self.modality, keras_model=self.keras_model is not None))
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
    def vectorizer(self) -> Any:
        """The model's TextVectorization layer, if it has one."""
        return self.text.vectorizer

    @property
    def window(self) -> int | None:
        """How many tokens the model reads (``None``: no fixed window)."""
        return self.text.window

    def text_view(self, text: str) -> TextView:
        """``text`` as the model reads it: its tokens within the window (see :class:`~explain.text.TextCodec`)."""
        return self.text.view(text)

    @staticmethod
    def join_tokens(tokens: Sequence[str], keep: np.ndarray | None = None) -> str:
        """A text from tokens, masked positions replaced by an unknown word so positions stay put."""
        return TextCodec.join(tokens, keep)

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
