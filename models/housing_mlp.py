"""``housing_mlp``: an MLP on the 8 raw California housing columns, predicting dollars.

A ``Normalization`` layer inside the model standardises the raw columns and a
final fixed scaling turns the network's output into US dollars, so users pass
census values and read prices without any outside preprocessing.
"""
from __future__ import annotations

import numpy as np

from .spec import Gate, ReferenceSpec

DOLLARS_PER_UNIT = 100_000.0


def build(x_fit: np.ndarray, y_fit: np.ndarray):
    import keras
    from keras import layers

    normalizer = layers.Normalization(name="normalize")
    normalizer.adapt(x_fit)
    inputs = keras.Input(shape=(x_fit.shape[1],), name="features")
    x = normalizer(inputs)
    for i, width in enumerate((256, 128, 64)):
        x = layers.Dense(width, activation="relu", name=f"dense{i + 1}")(x)
    x = layers.Dense(1, name="value_per_100k")(x)
    outputs = layers.Rescaling(DOLLARS_PER_UNIT, name="dollars")(x)
    model = keras.Model(inputs, outputs, name="housing_mlp")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    return model


SPEC = ReferenceSpec(
    name="housing_mlp",
    dataset="california_housing",
    description="Normalization inside the model, MLP 256-128-64, MSE loss on dollars, MAE metric; 4-fold CV before the final fit.",
    build=build,
    epochs=150,
    batch_size=128,
    gate=Gate("mae", "<=", 38_000),
    patience=12,
    lr_patience=5,
    cv_folds=4,
)
