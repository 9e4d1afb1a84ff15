"""The explained score of a model and its gradient, shared by every gradient-based method.

Two things every gradient method needs, in one place:

- **the score** differentiated, read off the model's output spec: ``"logit"``
  (the class score *before* the softmax or sigmoid, as published for Grad-CAM
  and recommended by Xplique; the raw output for regression), ``"log_p"`` (the
  log-probability, exact from the logits even when ``p`` rounds to 1) or
  ``"probability"`` (what LIME and SHAP explain).  A score that cannot be
  computed for this model (a logit of a model whose final activation is not
  visible) is refused, never approximated.
- **the space** gradients are taken in (:class:`GradientSpace`): the input
  itself for images and rows (so a ``Normalization`` layer inside the model is
  accounted for: attributions are for the raw features the user passed), and
  the output of the embedding layer for text, so string models with a
  ``TextVectorization`` inside, LSTMs and Transformers are explained per token
  as the model reads them.  Methods move points in that space (scaled for
  Integrated Gradients, noised for SmoothGrad) and ask for the gradient there;
  :meth:`GradientSpace.to_input` sums the embedding axis (text) or the colour
  channels (images) so the result is aligned with what people see.

Each call runs one ``tf.function`` per model and setting, on batches of
``batch_size`` points: one forward and one backward pass per batch.
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import layers as L
from .predictor import Predictor

SCORES = ("logit", "log_p", "probability")
EPS = 1e-7
ScoreFn = Callable[[Any, Any, Any, Any], Any]  # (outputs, logits | None, activation, targets) -> (n,) scores


# ---- the explained score --------------------------------------------------------------------------
def score_name(predictor: Predictor, score: str) -> str:
    """Words for the differentiated quantity, recorded in every explanation's ``meta["score"]``."""
    if predictor.output == "regression":
        return "model output"
    if score == "logit" and predictor.output == "binary":
        return "log-odds of the target (pre-activation)"
    return {"logit": "logit of the target (pre-activation class score)", "log_p": "log-probability of the target",
            "probability": "probability of the target"}[score]


def check_score(predictor: Predictor, score: str) -> None:
    """Refuse a score this model cannot give exactly (before any work is done)."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(map(repr, SCORES))}, got {score!r}.")
    if predictor.output == "regression" or predictor.output_scale == "logit":
        return
    if L.final_activation(predictor.keras_model) is None:
        raise ValueError(
            f"score={score!r} needs the logits before the model's final softmax/sigmoid, and this model's last layer "
            "shows none; pass score='probability', or output='logits' if the model already returns logits."
        )


def score_fn(predictor: Predictor, score: str) -> ScoreFn:
    """The per-row score, as a TensorFlow function of the outputs and the captured logits."""
    import tensorflow as tf

    task, scale, width = predictor.output, predictor.output_scale, predictor.n_outputs

    def per_row(outputs, logits, activation, targets):
        outputs = tf.reshape(tf.cast(outputs, tf.float32), [tf.shape(outputs)[0], -1])
        if task == "regression":
            return tf.gather(outputs, targets, axis=1, batch_dims=1)
        if scale == "logit":
            logits, activation = outputs, ("sigmoid" if width == 1 else "softmax")
        if logits is None:  # probabilities whose logits are not visible: only score='probability' gets here
            return _probability(outputs, targets, width)
        z = tf.reshape(tf.cast(logits, tf.float32), [tf.shape(logits)[0], -1])
        if activation == "sigmoid":
            sign = tf.where(tf.equal(targets, 1), 1.0, -1.0)  # the target's log-odds is +z or -z
            z = z[:, 0] * sign
            return {"logit": z, "log_p": -tf.nn.softplus(-z), "probability": tf.sigmoid(z)}[score]
        if score == "logit" and task == "binary":  # two softmax columns: the target's log-odds, as for one sigmoid
            return tf.gather(z, targets, axis=1, batch_dims=1) - tf.gather(z, 1 - targets, axis=1, batch_dims=1)
        if score == "logit":
            return tf.gather(z, targets, axis=1, batch_dims=1)
        log_p = log_softmax_at(z, targets)
        return log_p if score == "log_p" else tf.exp(log_p)

    return per_row


def _probability(outputs, targets, width: int):
    import tensorflow as tf

    if width == 1:
        return tf.where(tf.equal(targets, 1), outputs[:, 0], 1.0 - outputs[:, 0])
    return tf.gather(outputs, targets, axis=1, batch_dims=1)


def log_softmax_at(z, targets):
    """``log softmax(z)[c]`` as ``-softplus(logsumexp_{j != c}(z_j - z_c))``: exact gradients when ``p_c`` rounds to 1."""
    import tensorflow as tf

    is_target = tf.one_hot(targets, tf.shape(z)[1], on_value=True, off_value=False)
    z_c = tf.gather(z, targets, axis=1, batch_dims=1)
    others = tf.where(is_target, tf.fill(tf.shape(z), -np.inf), z - z_c[:, None])
    return -tf.nn.softplus(tf.reduce_logsumexp(others, axis=1))


def target_codes(targets: Sequence[int | None]) -> np.ndarray:
    """Targets as int32 column indices (``None``, a single regression output, is column 0)."""
    return np.array([0 if t is None else int(t) for t in targets], dtype=np.int32)


# ---- where gradients are taken ---------------------------------------------------------------------
class GradientSpace:
    """Points at which the model is differentiated: inputs (images, rows) or token embeddings (text)."""

    def __init__(self, predictor: Predictor, score: str = "logit", batch_size: int = 128) -> None:
        if predictor.no_gradients is not None or predictor.keras_model is None:
            raise ValueError(f"Gradient methods cannot differentiate this model ({predictor.no_gradients or 'no Keras model'}); "
                             "it supports the model-agnostic methods (LIME, Kernel SHAP, occlusion).")
        check_score(predictor, score)
        self.predictor = predictor
        self.score = score
        self.batch_size = max(1, int(batch_size))
        self.embedding = L.embedding_layer(predictor.keras_model) if predictor.modality == "text" else None
        if predictor.modality == "text" and self.embedding is None:
            raise ValueError("This text model has no Embedding layer, so there is no token space to take gradients "
                             "in; use 'lime_text', 'partition_shap' or 'occlusion'.")

    @property
    def is_text(self) -> bool:
        return self.embedding is not None

    def model_inputs(self, inputs: Sequence[Any]) -> Any:
        """What the model is called on: the texts themselves, or the float inputs."""
        if self.is_text:
            return np.array([view.text for view in inputs], dtype=object)
        return np.asarray(inputs, dtype=np.float32)

    def encode(self, inputs: Sequence[Any]) -> np.ndarray:
        """The points of the inputs themselves (text: their embedding output, ``(n, window, dim)``)."""
        if not self.is_text:
            return np.asarray(inputs, dtype=np.float32)
        run = _compiled(self.predictor, self.embedding, "encode", None)
        return np.concatenate([np.asarray(run(chunk)) for chunk in self._chunks(self.model_inputs(inputs))])

    def gradients(self, inputs: Sequence[Any], points: np.ndarray, repeats: int,
                  targets: Sequence[int | None]) -> tuple[np.ndarray, np.ndarray]:
        """``(d score / d point, score)`` at ``repeats`` points per input (points grouped by input)."""
        import tensorflow as tf

        x = np.repeat(self.model_inputs(inputs), repeats, axis=0) if self.is_text else np.empty(0)
        codes = np.repeat(target_codes(targets), repeats)
        run = _compiled(self.predictor, self.embedding, "gradient", self.score)
        grads, scores = [], []
        for start in range(0, len(points), self.batch_size):
            stop = start + self.batch_size
            args = (tf.constant(points[start:stop], tf.float32), tf.constant(codes[start:stop]))
            g, s = run(tf.constant(x[start:stop]), *args) if self.is_text else run(*args)  # images: points are the input
            grads.append(np.asarray(g, dtype=np.float64))
            scores.append(np.asarray(s, dtype=np.float64))
        return np.concatenate(grads), np.concatenate(scores)

    def own_positions(self, inputs: Sequence[Any], points: np.ndarray) -> np.ndarray:
        """True where a point belongs to the input itself: for text, the token positions, not the padding.

        Methods move only these, so the attributions of the tokens shown add up
        to the whole change (completeness holds over the tokens people see).
        """
        if not self.is_text:
            return np.ones(points.shape, dtype=bool)
        mask = np.zeros(points.shape, dtype=bool)
        for row, view in zip(mask, inputs):
            row[: len(view.tokens)] = True
        return mask

    def to_input(self, values: np.ndarray, inputs: Sequence[Any], reduce: str = "sum") -> list[np.ndarray]:
        """Per-input arrays aligned with the input as people see it (tokens, ``(H, W)`` maps, features)."""
        if self.is_text:
            return [row.sum(axis=-1)[: len(view.tokens)] for row, view in zip(values, inputs)]
        if self.predictor.modality == "image" and values.ndim == 4:
            return list(values.max(axis=-1) if reduce == "max" else values.sum(axis=-1))
        return list(values)

    def _chunks(self, x: np.ndarray) -> Iterator[Any]:
        import tensorflow as tf

        for start in range(0, len(x), self.batch_size):
            yield tf.constant(x[start : start + self.batch_size])


_COMPILED: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _compiled(predictor: Predictor, embedding: Any, kind: str, score: str | None) -> Callable[..., Any]:
    """One ``tf.function`` per model, kind and score; weakly keyed, so it never keeps a model alive."""
    import tensorflow as tf

    model = predictor.keras_model
    cache = _COMPILED.setdefault(model, {})
    key = (kind, score, predictor.output, predictor.output_scale, predictor.n_outputs, predictor.input_shape)
    if key in cache:
        return cache[key]
    model_ref = weakref.ref(model)
    layer_ref = weakref.ref(embedding) if embedding is not None else None
    per_row = score_fn(predictor, score) if score is not None else None
    spec = tf.TensorSpec([None], tf.string) if embedding is not None else None
    points = tf.TensorSpec([None, *predictor.input_shape] if embedding is None else [None, None, None], tf.float32)
    codes = tf.TensorSpec([None], tf.int32)

    def differentiate(x, p, targets):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(p)
            with _substituted(layer_ref, p), L.capture_logits(model_ref()) as (logits, activation):
                outputs = model_ref()(p if x is None else x, training=False)
            scores = per_row(outputs, logits[-1] if logits else None, activation, targets)
            total = tf.reduce_sum(scores)
        return tape.gradient(total, p), scores

    if kind == "encode":
        def encode(x):
            with L.capture_outputs(layer_ref()) as captured:
                model_ref()(x, training=False)
            return captured[0]
        run = tf.function(encode, input_signature=[spec])
    elif embedding is None:
        run = tf.function(lambda p, t: differentiate(None, p, t), input_signature=[points, codes])
    else:
        run = tf.function(differentiate, input_signature=[spec, points, codes])
    cache[key] = run
    return run


@contextlib.contextmanager
def _substituted(layer_ref: Any, value: Any) -> Iterator[None]:
    """Inside the block the embedding layer returns ``value`` instead of its own output (text only)."""
    if layer_ref is None:
        yield
        return
    with L.replaced_call(layer_ref(), lambda own, *args, **kwargs: value):
        yield
