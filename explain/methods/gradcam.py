"""Class activation maps: Grad-CAM, Grad-CAM++ and plain CAM, for image and text convnets.

All three weight the feature maps ``A_k`` of one convolution layer (the last
one by default, nested sub-models included) and map the result back onto the
input: bilinear upsampling to the image's ``(H, W)``, or conv position ``i``
to token ``i`` for text.  Maps keep their raw scale (no [0, 1] normalisation),
so maps of one model can be compared; ``meta["max"]`` records the peak.

The score differentiated is, by default, the published one: the target's class
score *before* the softmax or sigmoid (``score="logit"``; the raw output for
regression and for models that return logits).  ``score="log_p"`` differentiates
the log-probability instead, computed exactly from the captured logits
(``-softplus(logsumexp_{j != c}(z_j - z_c))``); it down-weights what the other
classes share, and gives near-zero maps for classes the model finds unlikely.
Both come from :mod:`explain.gradients`; ``meta["score"]`` names the one used.

Each batch costs one forward and one backward pass: the per-row scores are
summed before differentiating, which gives each row its own gradient because
rows do not interact at inference time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import gradients as Grad
from .. import layers as L
from ..predictor import Predictor
from ..registry import register
from .base import Attribution, Method, param

SCORES = ("logit", "log_p")


# ---- one forward (+ backward) pass per batch ---------------------------------------------------
def _model_inputs(predictor: Predictor, inputs: Sequence[Any]):
    import tensorflow as tf

    if predictor.modality == "text":
        return tf.constant([view.text for view in inputs])
    return tf.constant(np.asarray(inputs, dtype=np.float32))


def _input_spec(predictor: Predictor):
    import tensorflow as tf

    if predictor.modality == "text":
        return tf.TensorSpec([None], tf.string)
    return tf.TensorSpec([None, *predictor.input_shape], tf.float32)


def _channels_last(layer: Any, tensor: Any) -> np.ndarray:
    array = np.asarray(tensor, dtype=np.float32)
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        array = np.moveaxis(array, 1, -1)
    return array


def activations(predictor: Predictor, layer_name: str | None, inputs: Sequence[Any], targets: Sequence[int | None],
                gradient: bool = True, score: str = "logit") -> tuple[str, Any, np.ndarray, np.ndarray | None, np.ndarray]:
    """``(path, layer, A, dScore/dA, outputs)`` for a batch, channels last, one pass per ``batch_size`` chunk."""
    import tensorflow as tf

    model = predictor.keras_model
    path, layer = L.resolve_layer(model, layer_name)
    if gradient:
        Grad.check_score(predictor, score)
    key = (predictor.output, predictor.output_scale, predictor.n_outputs, predictor.modality, predictor.input_shape, score)
    run = L.compiled_output_and_gradient(model, path, layer, _input_spec(predictor), Grad.score_fn(predictor, score),
                                         key=key, gradient=gradient)
    codes = Grad.target_codes(targets)
    acts, grads, outs = [], [], []
    for start in range(0, len(inputs), predictor.batch_size):
        stop = start + predictor.batch_size
        a, g, o = run(_model_inputs(predictor, inputs[start:stop]), tf.constant(codes[start:stop]))
        if not isinstance(a, tf.Tensor):
            raise ValueError(f"Layer {layer.name!r} does not return a single tensor; choose a convolution layer.")
        acts.append(_channels_last(layer, a))
        grads.append(_channels_last(layer, g) if gradient else None)
        outs.append(np.asarray(o, dtype=np.float64).reshape(len(a), -1))
    A = np.concatenate(acts)
    G = np.concatenate(grads) if gradient else None
    return path, layer, A, G, np.concatenate(outs)


# ---- maps back onto the input -------------------------------------------------------------------
def _check_rank(predictor: Predictor, layer: Any, maps: np.ndarray) -> None:
    wanted = 2 if predictor.modality == "image" else 1
    if maps.ndim - 1 != wanted:
        raise ValueError(
            f"Layer {layer.name!r} has {maps.ndim - 1}-D feature maps but {predictor.modality} inputs need "
            f"{wanted}-D maps; pass layer= the name of a {'Conv2D' if wanted == 2 else 'Conv1D'} layer."
        )


def _upsample_images(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(n, h, w)`` maps to ``(n, H, W)`` (half-pixel centres, as in image libraries)."""
    import tensorflow as tf

    if maps.shape[1:] == tuple(size):
        return maps
    resized = tf.image.resize(maps[..., None], size, method="bilinear")
    return np.asarray(resized, dtype=np.float32)[..., 0]


def _to_tokens(row: np.ndarray, window: int, n_tokens: int) -> np.ndarray:
    """Conv position ``i`` is token ``i`` when the conv keeps the window's length; otherwise interpolate."""
    if len(row) != window:
        centres = (np.arange(len(row)) + 0.5) * window / len(row) - 0.5
        row = np.interp(np.arange(window), centres, row)
    return row[:n_tokens]


def _place(predictor: Predictor, layer: Any, maps: np.ndarray, inputs: Sequence[Any]) -> list[np.ndarray]:
    """One attribution array per input, aligned with the input as people see it."""
    _check_rank(predictor, layer, maps)
    if predictor.modality == "image":
        return list(_upsample_images(maps, tuple(predictor.input_shape[:2])))
    window = predictor.window or maps.shape[1]
    return [_to_tokens(row, window, len(view.tokens)) for row, view in zip(maps, inputs)]


def _run_groups(predictor: Predictor, inputs: Sequence[Any]) -> list[list[int]]:
    """Index groups run together: all at once, or one by one for text models without a fixed window
    (their vectorizer pads to the longest text of the batch, which would change the shorter texts' maps)."""
    if predictor.modality == "text" and predictor.window is None:
        return [[i] for i in range(len(inputs))]
    return [list(range(len(inputs)))]


def _results(layer_path: str, layer: Any, maps: list[np.ndarray], conv_maps: np.ndarray,
             extra: dict[str, Any]) -> list[Attribution]:
    return [
        Attribution(
            attributions=np.asarray(m, dtype=np.float64),
            meta={"layer": layer.name, "layer_path": layer_path, "map_shape": list(conv.shape), "max": float(np.max(m)), **extra},
        )
        for m, conv in zip(maps, conv_maps)
    ]


# ---- the methods --------------------------------------------------------------------------------
def _needs_convolution(cls: type, predictor: Predictor) -> str | None:
    """A CAM method applies only to a model with a convolution (when no layer is named)."""
    if predictor.keras_model is not None and not L.convolution_layers(predictor.keras_model):
        return f"{cls.name} needs a convolution layer and model {predictor.keras_model.name!r} has none"
    return None


LAYER = param(None, help="the convolution layer to read (name or path); None: the last one")


@dataclass
class _GradientCAM(Method):
    """Shared driver of the gradient-weighted maps; subclasses turn (A, dS/dA) into conv-resolution maps."""

    modalities = ("image", "text")
    needs_keras = True
    needs_gradients = True
    layer: str | None = LAYER
    score: str = param("logit", choices=SCORES,
                       help="'logit': the class score before softmax/sigmoid, as published; 'log_p': its log-probability")

    @classmethod
    def applies_to(cls, predictor: Predictor) -> str | None:
        return super().applies_to(predictor) or _needs_convolution(cls, predictor)

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        results: list[Attribution | None] = [None] * len(inputs)
        for group in _run_groups(predictor, inputs):
            batch = _subset(inputs, group)
            path, layer, A, G, _ = activations(predictor, self.layer, batch, [targets[i] for i in group], score=self.score)
            conv_maps = self.conv_maps(A, G)
            placed = _place(predictor, layer, conv_maps, batch)
            extra = {"score": Grad.score_name(predictor, self.score)}
            for i, result in zip(group, _results(path, layer, placed, conv_maps, extra)):
                results[i] = result
        return results  # type: ignore[return-value]

    @staticmethod
    def conv_maps(A: np.ndarray, G: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _subset(inputs: Sequence[Any], group: list[int]) -> Any:
    return inputs[group] if isinstance(inputs, np.ndarray) else [inputs[i] for i in group]


def _spatial(A: np.ndarray) -> tuple[int, ...]:
    return tuple(range(1, A.ndim - 1))


@register
@dataclass
class GradCAM(_GradientCAM):
    """Grad-CAM (Selvaraju et al. 2017): ReLU(sum_k alpha_k A_k), alpha_k = spatial mean of dS/dA_k."""

    name = "gradcam"

    @staticmethod
    def conv_maps(A: np.ndarray, G: np.ndarray) -> np.ndarray:
        alpha = G.mean(axis=_spatial(A), keepdims=True)
        return np.maximum((alpha * A).sum(axis=-1), 0.0)


@register
@dataclass
class GradCAMPlusPlus(_GradientCAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018), with the closed-form alphas of the authors' code.

    With ``Y = exp(S)`` the higher derivatives are ``exp(S) g^2`` and ``exp(S) g^3``
    (``g = dS/dA``); ``exp(S)`` cancels in the alphas and only rescales a row's map
    by a positive constant, so it is left out (it overflows for large regression
    outputs).  As in the authors' and tf-keras-vis code, alphas are normalised to
    sum to 1 over positions.
    """

    name = "gradcam_pp"

    @staticmethod
    def conv_maps(A: np.ndarray, G: np.ndarray) -> np.ndarray:
        axes = _spatial(A)
        g2 = G * G
        g3 = g2 * G
        denom = 2.0 * g2 + g3 * A.sum(axis=axes, keepdims=True)
        alphas = g2 / np.where(g2 != 0.0, denom, 1.0)
        norm = alphas.sum(axis=axes, keepdims=True)
        alphas = alphas / np.where(norm != 0.0, norm, 1.0)
        weights = (alphas * np.maximum(G, 0.0)).sum(axis=axes, keepdims=True)
        return np.maximum((weights * A).sum(axis=-1), 0.0)


@register
@dataclass
class CAM(Method):
    """Plain CAM (Zhou et al. 2016): sum_k w_kc A_k, for conv -> global average pooling -> Dense models.

    Only there is the map exact: the output's pre-activation is the spatial mean
    of the map plus the bias.  No ReLU: negative regions count against the target.
    """

    name = "cam"
    modalities = ("image", "text")
    needs_keras = True
    layer: str | None = LAYER

    @classmethod
    def applies_to(cls, predictor: Predictor) -> str | None:
        return super().applies_to(predictor) or _needs_convolution(cls, predictor)

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        results: list[Attribution | None] = [None] * len(inputs)
        for group in _run_groups(predictor, inputs):
            batch = _subset(inputs, group)
            path, layer, A, _, outputs = activations(predictor, self.layer, batch, [targets[i] for i in group], gradient=False)
            dense, after = cam_head(predictor.keras_model, path)
            kernel, bias = _dense_weights(dense)
            _check_head(dense, after, A, kernel, bias, outputs)
            weights = np.stack([_class_weights(predictor, kernel, targets[i]) for i in group])  # (n, C)
            conv_maps = np.einsum("n...c,nc->n...", A.astype(np.float64), weights)
            placed = _place(predictor, layer, conv_maps, batch)
            score = f"weights of Dense {dense.name!r} for the target (conv-resolution map mean + bias = pre-activation)"
            extra = {"score": score, "dense_layer": dense.name}
            for i, result in zip(group, _results(path, layer, placed, conv_maps, extra)):
                results[i] = result
        return results  # type: ignore[return-value]


def _class_weights(predictor: Predictor, kernel: np.ndarray, target: int | None) -> np.ndarray:
    if predictor.output == "multiclass" or kernel.shape[1] > 1:
        return kernel[:, int(target or 0)]
    if predictor.output == "binary" and target == 0:
        return -kernel[:, 0]  # log-odds of class 0 are minus those of class 1
    return kernel[:, 0]


def cam_head(model: Any, conv_path: str) -> tuple[Any, list]:
    """``(dense, activation layers after it)`` if the conv is followed only by GAP and a final Dense.

    Pass-through layers (dropout, noise, linear activations) are ignored; after
    the Dense only Softmax/Activation layers may follow.
    """
    from keras import layers

    flat = L.flatten_layers(model)
    start = [path for path, _ in flat].index(conv_path) + 1
    tail = [layer for _, layer in flat[start:] if not isinstance(layer, layers.InputLayer) and not _is_container(layer)]
    kinds = [type(layer).__name__ for layer in tail if type(layer).__name__ not in L.PASS_THROUGH
             and not _is_identity_activation(layer)]
    gap = ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D")
    head = [layer for layer in tail if type(layer).__name__ == "Dense"]
    trailing = [layer for layer in tail[tail.index(head[0]) + 1:]] if len(head) == 1 else []
    ok_trailing = set(kinds[2:]) <= {"Softmax", "Activation"}
    if len(kinds) < 2 or kinds[0] not in gap or kinds[1] != "Dense" or not ok_trailing or len(head) != 1:
        found = " -> ".join(kinds) or "nothing"
        raise ValueError(
            f"This architecture does not allow plain CAM: after the convolution {conv_path!r} comes {found}, "
            "not global average pooling and a final Dense layer. Use 'gradcam' instead."
        )
    return head[0], [layer for layer in trailing if type(layer).__name__ in ("Softmax", "Activation")]


def _dense_weights(dense: Any) -> tuple[np.ndarray, np.ndarray]:
    kernel = np.asarray(dense.kernel, dtype=np.float64)
    bias = np.asarray(dense.bias, dtype=np.float64) if dense.use_bias else np.zeros(kernel.shape[1])
    return kernel, bias


def _is_container(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def _is_identity_activation(layer: Any) -> bool:
    return type(layer).__name__ == "Activation" and getattr(layer.activation, "__name__", "") == "linear"


def _check_head(dense: Any, after: list, A: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
                outputs: np.ndarray) -> None:
    """The structure looked right; confirm the outputs really are Dense(GAP(A)) before trusting the weights."""
    pooled = A.astype(np.float64).mean(axis=_spatial(A))
    if pooled.shape[1] != kernel.shape[0]:
        raise ValueError(f"This architecture does not allow plain CAM: the Dense layer {dense.name!r} does not read "
                         "the pooled feature maps. Use 'gradcam' instead.")
    expected = dense.activation(np.asarray(pooled @ kernel + bias, dtype=np.float32))
    for layer in after:
        expected = layer(expected)
    if not np.allclose(np.asarray(expected, dtype=np.float64).reshape(outputs.shape), outputs, rtol=1e-3, atol=1e-4):
        raise ValueError("This architecture does not allow plain CAM: the model's output is not a Dense layer of the "
                         "globally averaged feature maps (another branch or layer changes it). Use 'gradcam' instead.")

