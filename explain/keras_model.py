"""Reading a Keras model's structure: built or not, its heads and inputs, its modality, its fingerprint.

The checks a user's model meets before anything is explained, each with a
message that says what to do, and the one compiled forward function every
batched prediction goes through.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

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


def check_single_input(model: Any) -> None:
    if len(model.inputs) > 1:
        names = ", ".join(repr(getattr(t, "name", f"input_{i}")) for i, t in enumerate(model.inputs))
        raise ValueError(
            f"Model {model.name!r} takes {len(model.inputs)} inputs ({names}). Explain one input at a time: wrap the "
            "model in a function of that input with the others held fixed, e.g. Predictor(lambda x: "
            "model.predict([x, fixed_meta]), modality=..., class_names=...), or a Keras model built on that input."
        )


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
