"""Text as the model reads it: its tokens (its own standardisation), its window, and masking by position.

Also turns a token-id model (an Embedding over integer ids, how most Keras text
models are trained) into a model of raw strings when its tokenizer is given, so
every text method explains it on words exactly as it explains a string model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

MASK_TOKEN = "UNKWORDZ"  # out of vocabulary for any real tokenizer: a neutral "unknown word"


@dataclass(frozen=True)
class TextView:
    """A text as the model reads it: its tokens, within the model's window."""

    text: str
    tokens: tuple[str, ...]
    dropped: int  # tokens beyond the model's window, ignored by the model


class TextCodec:
    """Tokens of a text as a model reads them, within its window (whitespace split without a vectorizer)."""

    def __init__(self, vectorizer: Any = None) -> None:
        self.vectorizer = vectorizer

    @property
    def window(self) -> int | None:
        """How many tokens the model reads (``None``: no fixed window)."""
        if self.vectorizer is None:
            return None
        length = self.vectorizer.get_config().get("output_sequence_length")
        return int(length) if length else None

    def view(self, text: str) -> TextView:
        """Split ``text`` into the tokens the model sees (its own standardisation), within the window."""
        if self.vectorizer is not None:
            tokens = [t.decode("utf-8") for t in self.vectorizer._preprocess([text])[0].numpy()]
        else:
            tokens = text.split()
        window = self.window
        dropped = max(0, len(tokens) - window) if window else 0
        return TextView(text=text, tokens=tuple(tokens[: len(tokens) - dropped]), dropped=dropped)

    @staticmethod
    def join(tokens: Sequence[str], keep: np.ndarray | None = None) -> str:
        """A text from tokens, masked positions replaced by an unknown word so positions stay put."""
        if keep is None:
            return " ".join(tokens)
        return " ".join(t if k else MASK_TOKEN for t, k in zip(tokens, keep))


def on_text(model: Any, tokenizer: Any) -> Any:
    """A token-id model with its tokenizer, as one model of raw strings (so every text method applies)."""
    import keras

    takes_ids = reads_token_ids(model)
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
        raise TypeError("tokenizer must be a keras TextVectorization layer, a vocabulary list of strings, or a "
                        f"function from a list of strings to token ids; got {type(tokenizer).__name__}.")
    inputs = keras.Input((1,), dtype="string", name="text")
    outputs = model(vectorizer(inputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_on_text")


def is_tokenizer_function(tokenizer: Any) -> bool:
    """A Python tokenizer (strings to ids) rather than a Keras layer or a vocabulary list."""
    import keras

    return callable(tokenizer) and not isinstance(tokenizer, keras.layers.Layer)


def through_tokenizer(model: Any, tokenizer: Callable[[list[str]], Any], forward: Callable[[Any], np.ndarray]
                      ) -> Callable[[Sequence[str]], np.ndarray]:
    """Strings to the model's outputs through a Python tokenizer, checked once on a probe text.

    The tokenizer runs outside the Keras graph, so only model-agnostic methods can
    explain the result: words are whitespace tokens, masked by an unknown word.
    """
    if not reads_token_ids(model):
        raise ValueError(f"tokenizer= is for models that read token ids; model {model.name!r} does not start with an Embedding.")
    length = model.input_shape[1] if len(model.input_shape) == 2 else None

    def on_strings(texts: Sequence[str]) -> np.ndarray:
        ids = np.asarray(tokenizer(list(texts)))
        if ids.ndim != 2 or len(ids) != len(texts) or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"The tokenizer function must return integer token ids of shape (texts, tokens); for "
                             f"{len(texts)} texts it returned {ids.dtype} of shape {ids.shape}.")
        if length is not None and ids.shape[1] != length:
            raise ValueError(f"The tokenizer function returns {ids.shape[1]} tokens per text but model "
                             f"{model.name!r} reads {length}: pad or cut to {length}.")
        return forward(ids)

    on_strings(["probe text"])  # a wrong tokenizer fails here, not in the middle of an explanation
    return on_strings


def reads_token_ids(model: Any) -> bool:
    import keras

    dtype = str(getattr(model.inputs[0], "dtype", ""))
    first = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)][:1]
    return "string" not in dtype and bool(first) and isinstance(first[0], keras.layers.Embedding)


def find_text_vectorizer(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.TextVectorization):
            return layer
        if isinstance(layer, keras.Model):
            found = find_text_vectorizer(layer)
            if found is not None:
                return found
    return None
