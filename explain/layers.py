"""Finding layers in any Keras model, and reading a layer's output and its gradient.

Users bring Functional models, Sequential models and models that use another
model as a layer (a pretrained backbone inside an outer model with
preprocessing).  ``keras.Model(outer.inputs, inner_layer.output)`` fails for
the nested case: the inner layer's symbolic output belongs to the inner
model's graph, not to the outer one.  So instead of rebuilding graphs we
*observe* one ordinary forward pass: the chosen layer instance's ``call`` is
wrapped for the duration of the pass, and the wrapper hands its output to the
active ``tf.GradientTape`` (``tape.watch``) and keeps it.  This works the same
for every kind of model, costs nothing beyond the forward pass itself, and
never changes the model (the original ``call`` is restored in a ``finally``).

Inside a ``tf.function`` the wrapping only runs while the function is traced;
the traced graph keeps the captured tensor, so later calls pay no Python cost.
"""
from __future__ import annotations

import contextlib
import functools
import weakref
from typing import Any, Callable, Iterator

from .keras_model import output_layer

PASS_THROUGH = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity")


def _conv_types() -> tuple[type, ...]:
    from keras import layers

    return (layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.SeparableConv1D, layers.SeparableConv2D,
            layers.DepthwiseConv1D, layers.DepthwiseConv2D)


def flatten_layers(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every layer in execution order as ``(path, layer)``, nested models expanded in place.

    A nested model appears itself (path ``"backbone"``) followed by its layers
    (``"backbone/base_conv2"``), so both can be chosen.
    """
    import keras

    found = []
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        found.append((path, layer))
        if isinstance(layer, keras.Model):
            found.extend(flatten_layers(layer, prefix=path + "/"))
    return found


def convolution_layers(model: Any) -> list[tuple[str, Any]]:
    """All convolution layers (1-D, 2-D, 3-D, separable, depthwise), nested ones included, in order."""
    conv = _conv_types()
    return [(path, layer) for path, layer in flatten_layers(model) if isinstance(layer, conv)]


def last_convolution(model: Any) -> tuple[str, Any]:
    """The last convolution layer, looking inside nested models: the usual choice for CAM methods."""
    convs = convolution_layers(model)
    if not convs:
        raise ValueError(
            f"Model {model.name!r} has no convolution layer, so CAM methods do not apply; "
            "use a gradient or perturbation method instead (explain.available(model) lists the ones that apply)."
        )
    return convs[-1]


def find_layer(model: Any, name: str) -> tuple[str, Any]:
    """The layer called ``name`` (or with path ``"outer/inner"``), nested models included."""
    matches = [(path, layer) for path, layer in flatten_layers(model) if name in (path, layer.name)]
    if len(matches) == 1:
        return matches[0]
    convs = ", ".join(repr(path) for path, _ in convolution_layers(model)) or "none"
    if not matches:
        raise ValueError(f"Model {model.name!r} has no layer named {name!r}. Its convolution layers: {convs}.")
    paths = ", ".join(repr(path) for path, _ in matches)
    raise ValueError(f"Several layers are named {name!r} ({paths}); pass the full path instead.")


def resolve_layer(model: Any, name: str | None) -> tuple[str, Any]:
    """``(path, layer)``: the named layer, or the last convolution when ``name`` is None."""
    return last_convolution(model) if name is None else find_layer(model, name)


# ---- observing a forward pass -------------------------------------------------------------------
@contextlib.contextmanager
def replaced_call(layer: Any, wrapper: Callable[..., Any]) -> Iterator[None]:
    """Inside the block, calling ``layer`` runs ``wrapper(own_call, *args, **kwargs)``; restored in a ``finally``.

    The one way this library observes or changes a layer during a forward pass
    (capturing its output, its input, or substituting its output), so the model
    itself is never changed once the block is left.
    """
    original = layer.__dict__.get("call")  # an instance attribute already set, if any
    own = original if original is not None else functools.partial(type(layer).call, layer)

    @functools.wraps(layer.call)
    def call(*args: Any, **kwargs: Any) -> Any:
        return wrapper(own, *args, **kwargs)

    layer.call = call
    try:
        yield
    finally:
        if original is None:
            del layer.call
        else:
            layer.call = original


@contextlib.contextmanager
def capture_outputs(layer: Any, tape: Any = None) -> Iterator[list]:
    """Collect ``layer``'s outputs during the forward passes run inside the block (and watch them on ``tape``)."""
    captured: list = []

    def record(own: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        out = own(*args, **kwargs)
        if tape is not None:
            tape.watch(out)
        captured.append(out)
        return out

    with replaced_call(layer, record):
        yield captured


def final_activation(model: Any) -> str | None:
    """``"softmax"`` or ``"sigmoid"`` when the model's last layer applies one (its logits can be captured)."""
    from keras import layers

    layer = output_layer(model)
    if isinstance(layer, layers.Softmax):
        return "softmax"
    kind = getattr(getattr(layer, "activation", None), "__name__", None)
    return kind if kind in ("softmax", "sigmoid") else None


def embedding_layer(model: Any) -> Any | None:
    """The first ``Embedding`` layer (nested models included): where text gradient methods take gradients."""
    from keras import layers

    found = [layer for _, layer in flatten_layers(model) if isinstance(layer, layers.Embedding)]
    return found[0] if found else None


@contextlib.contextmanager
def capture_logits(model: Any) -> Iterator[tuple[list, str | None]]:
    """Collect the pre-activation input of the model's final softmax/sigmoid, if it has one.

    Yields ``(captured, activation)`` with ``activation`` ``"softmax"``,
    ``"sigmoid"`` or None (nothing captured).  Log-probabilities computed from
    logits stay exact when a probability rounds to 0 or 1 in float32, where
    differentiating ``log(p)`` would give a wrong or vanishing gradient.
    """
    from keras import layers

    layer = output_layer(model)
    captured: list = []
    if isinstance(layer, layers.Softmax):
        with _record_first_input(layer, captured):
            yield captured, "softmax"
        return
    activation = getattr(layer, "activation", None)
    kind = getattr(activation, "__name__", None)
    if kind not in ("softmax", "sigmoid"):
        yield captured, None
        return

    def record(x: Any, *args: Any, **kwargs: Any) -> Any:
        captured.append(x)
        return activation(x, *args, **kwargs)

    layer.activation = record
    try:
        yield captured, kind
    finally:
        layer.activation = activation


@contextlib.contextmanager
def _record_first_input(layer: Any, captured: list) -> Iterator[None]:
    def record(own: Callable[..., Any], inputs: Any, *args: Any, **kwargs: Any) -> Any:
        captured.append(inputs)
        return own(inputs, *args, **kwargs)

    with replaced_call(layer, record):
        yield


# ---- a layer's output and the gradient of a score w.r.t. it ----------------------------------
ScoreFn = Callable[[Any, Any, str | None, Any], Any]  # (outputs, logits|None, activation, targets) -> (n,) scores


def output_and_gradient(model: Any, layer: Any, x: Any, targets: Any, score_fn: ScoreFn,
                        gradient: bool = True) -> tuple[Any, Any, Any]:
    """``(activations, d sum(score) / d activations, model outputs)`` from one forward and one backward pass.

    Works eagerly or inside a ``tf.function``, for nested models too.  Summing
    the per-row scores before differentiating gives every row its own gradient
    in one backward pass, because rows do not interact in inference mode.
    """
    import tensorflow as tf

    with tf.GradientTape(watch_accessed_variables=False) as tape:
        with capture_outputs(layer, tape) as acts, capture_logits(model) as (logits, activation):
            outputs = model(x, training=False)
        if len(acts) != 1:
            raise ValueError(
                f"Layer {layer.name!r} ran {len(acts)} times in one forward pass (a shared layer?); "
                "choose a layer that runs once."
            )
        total = tf.reduce_sum(score_fn(outputs, logits[-1] if logits else None, activation, targets)) if gradient else None
    grads = tape.gradient(total, acts[0]) if gradient else None
    if gradient and grads is None:
        raise ValueError(f"The model output does not depend on layer {layer.name!r}; choose another layer.")
    return acts[0], grads, outputs


_COMPILED: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def compiled_output_and_gradient(model: Any, path: str, layer: Any, input_spec: Any, score_fn: ScoreFn,
                                 key: Any, gradient: bool = True) -> Callable[[Any, Any], tuple[Any, Any, Any]]:
    """:func:`output_and_gradient` as one ``tf.function``, built once per model, layer and ``key``.

    ``input_spec`` has an unknown batch size, so batches of any size share one trace.
    The function reaches the model and layer through weak references, so this
    cache (keyed weakly on the model) does not keep a model alive.
    """
    import tensorflow as tf

    cache = _COMPILED.setdefault(model, {})
    cache_key = (path, key, gradient)
    if cache_key not in cache:
        spec = [input_spec, tf.TensorSpec([None], tf.int32)]
        model_ref, layer_ref = weakref.ref(model), weakref.ref(layer)

        @tf.function(input_signature=spec)
        def run(x, targets):
            return output_and_gradient(model_ref(), layer_ref(), x, targets, score_fn, gradient=gradient)

        cache[cache_key] = run
    return cache[cache_key]
