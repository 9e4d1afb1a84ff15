"""``mnist_cnn``: a small convnet built to be explained.

Its last convolution keeps a 7x7 map and feeds global average pooling and the
classifier directly, so Grad-CAM heatmaps have spatial detail and plain CAM
(class weights times feature maps) is exact.  Random shifts, rotations and
zooms during training make up for the 5,000-image training subset.
"""
from __future__ import annotations

import numpy as np

from .spec import Gate, ReferenceSpec

LAST_CONV = "last_conv"


def build(x_fit: np.ndarray, y_fit: np.ndarray):
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28), name="image")
    x = layers.Reshape((28, 28, 1), name="add_channel")(inputs)
    x = layers.Rescaling(1.0 / 255, name="rescale")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool1")(x)  # 14x14
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(name="pool2")(x)  # 7x7
    x = layers.Conv2D(128, 3, padding="same", activation="relu", name=LAST_CONV)(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="mnist_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def augmenter():
    """Random small rotations, shifts and zooms, applied to training batches only."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.Reshape((28, 28, 1)),
            layers.RandomRotation(0.05, fill_mode="constant"),
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
            layers.RandomZoom(0.1, fill_mode="constant"),
            layers.Reshape((28, 28)),
        ],
        name="augment",
    )


SPEC = ReferenceSpec(
    name="mnist_cnn",
    dataset="mnist",
    description="Conv 32-32-pool-64-pool-128 (7x7 last map), global average pooling, softmax; trained with shift/rotate/zoom augmentation.",
    build=build,
    epochs=40,
    batch_size=64,
    gate=Gate("accuracy", ">=", 0.965),
    patience=8,
    lr_patience=3,
    augmenter=augmenter,
)
