"""Reading a Keras model's structure: built or not, its heads and inputs, its modality, its fingerprint.

The checks a user's model meets before anything is explained, each with a
message that says what to do, and the one compiled forward function every
batched prediction goes through.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

import numpy as np

from .text import find_text_vectorizer


def is_keras_model(obj: Any) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        return False
    return isinstance(obj, keras.Model)


def compiled_forward(model) -> Callable[[Any], np.ndarray]:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def forward(x):
        return model(x, training=False)

    def call(x):
        return forward(x).numpy()

    return call


def infer_modality(input_shape: tuple, dtype: str) -> str:
    if "string" in dtype:
        return "text"
    if len(input_shape) == 1:
        return "tabular"
    if len(input_shape) in (2, 3):
        return "image"
    raise ValueError(f"Cannot tell the modality of a model with input shape {input_shape}; pass modality=.")


def output_layer(model):
    """The layer that produces the model's output, looking inside nested models."""
    import keras

    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    return layer


def built(model: Any) -> Any:
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


def head_names(model: Any) -> list[str]:
    names = getattr(model, "output_names", None)
    return list(names) if names else [f"output_{i}" for i in range(len(model.outputs))]


def one_head(model: Any, head: str | int | None) -> tuple[Any, str | None]:
    """``(model for one head, head name)``: a multi-output model is explained one head at a time."""
    import keras

    outputs = model.outputs
    if len(outputs) == 1:
        if head not in (None, 0, *head_names(model)):
            raise ValueError(f"Model {model.name!r} has a single output; output_head={head!r} does not name it.")
        return model, None
    names = head_names(model)
    listed = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names))
    if head is None:
        raise ValueError(f"Model {model.name!r} has {len(outputs)} outputs ({listed}); choose the one to explain "
                         "with output_head= (a name or an index).")
    index = names.index(head) if isinstance(head, str) and head in names else head
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(outputs):
        raise ValueError(f"output_head={head!r} is not one of the model's outputs ({listed}).")
    return keras.Model(model.inputs, outputs[index], name=f"{model.name}__{names[index]}"), names[index]


def input_names(model: Any) -> list[str]:
    return [str(getattr(t, "name", None) or f"input_{i}") for i, t in enumerate(model.inputs)]


def one_input(model: Any, explained: str | int | None, held: Mapping[str, Any] | None) -> Any:
    """A model of the one input to explain, the others held at the given values (an image plus metadata, say).

    The held values become non-trainable weights of the wrapper, so they are part
    of its fingerprint (and of every store key), and the explained input keeps its
    own layers, so gradients and layer captures work as for any model.
    """
    names = input_names(model)
    if len(names) == 1:
        if held:
            raise ValueError(f"Model {model.name!r} has a single input; held_inputs= is for models with several.")
        return model
    listed = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names))
    if explained is None:
        raise ValueError(
            f"Model {model.name!r} takes {len(names)} inputs ({listed}). Explain one at a time, the others held "
            "fixed: Predictor(model, explained_input='image', held_inputs={'meta': one_row_of_meta})."
        )
    index = names.index(explained) if isinstance(explained, str) and explained in names else explained
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(names):
        raise ValueError(f"explained_input={explained!r} is not one of the model's inputs ({listed}).")
    others = [n for i, n in enumerate(names) if i != index]
    if set(held or {}) != set(others):
        raise ValueError(f"Explaining {names[index]!r} holds the other inputs fixed: pass held_inputs= with a value "
                         f"for each of {others} (one sample, without the batch axis); got {sorted(held or {})}.")
    return _held_model(model, index, {n: held[n] for n in others})  # type: ignore[index]


def _held_model(model: Any, index: int, held: dict[str, Any]) -> Any:
    import keras

    tensors = model.inputs
    chosen = tensors[index]
    x = keras.Input(shape=tuple(chosen.shape[1:]), dtype=chosen.dtype, name=input_names(model)[index])
    parts = []
    for i, tensor in enumerate(tensors):
        if i == index:
            parts.append(x)
            continue
        name = input_names(model)[i]
        value = np.asarray(held[name], dtype=str(tensor.dtype))
        if value.shape != tuple(tensor.shape[1:]):
            raise ValueError(f"held_inputs[{name!r}] has shape {value.shape}; the model's input {name!r} takes one "
                             f"sample of shape {tuple(tensor.shape[1:])}.")
        parts.append(HeldInput(value, name=f"held_{name}")(x))
    return keras.Model(x, model(parts), name=f"{model.name}__{input_names(model)[index]}")


def _held_input_layer() -> type:
    import keras

    class _HeldInput(keras.layers.Layer):
        """A fixed input value, repeated for every row of the batch (a non-trainable weight: fingerprinted)."""

        def __init__(self, value: np.ndarray, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._shape = value.shape
            self.value = self.add_weight(shape=value.shape, dtype=str(value.dtype), trainable=False,
                                         initializer=keras.initializers.Constant(value), name="value")

        def call(self, x: Any) -> Any:
            batch = keras.ops.shape(x)[0]
            return keras.ops.broadcast_to(keras.ops.expand_dims(self.value, 0), (batch, *self._shape))

    return _HeldInput


def HeldInput(value: np.ndarray, **kwargs: Any) -> Any:  # noqa: N802 - builds a layer, named like one
    return _held_input_layer()(value, **kwargs)


def weights_fingerprint(model) -> str:
    """Weights and any text vocabulary: both change what the model computes."""
    digest = hashlib.sha256()
    vectorizer = find_text_vectorizer(model)
    if vectorizer is not None:
        digest.update("\n".join(map(str, vectorizer.get_vocabulary())).encode("utf-8"))
    for weight in model.weights:
        value = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight)
        digest.update(value.tobytes())
    return "weights-sha256:" + digest.hexdigest()[:32]


def as_model_input(batch: Any, modality: str, keras_model: bool):
    """Keras text models take a string tensor; plain functions get Python strings."""
    if modality == "text":
        texts = [str(t) for t in batch]
        if not keras_model:
            return texts
        import tensorflow as tf

        return tf.constant(texts)
    return np.asarray(batch, dtype=np.float32)
