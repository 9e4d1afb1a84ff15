"""``mnist_dense``: the classic two-layer perceptron on flattened MNIST digits."""
from __future__ import annotations

import numpy as np

from .spec import Gate, ReferenceSpec


def build(x_fit: np.ndarray, y_fit: np.ndarray):
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)  # takes raw 0-255 pixels
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, activation="relu", name="hidden")(x)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="mnist_dense")
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


SPEC = ReferenceSpec(
    name="mnist_dense",
    dataset="mnist",
    description="Dense(512, relu) then Dense(10, softmax) on raw 28x28 MNIST pixels (rmsprop).",
    build=build,
    epochs=20,
    batch_size=128,
    gate=Gate("accuracy", ">=", 0.91),
)
