"""Tiny seeded models for the engine tests, built in well under a second each.

Each covers one kind of model users bring: Sequential and Functional, nested
sub-models, preprocessing layers inside, softmax, single-sigmoid and scalar
regression outputs, raw-string text models, and plain prediction functions.
Some have answers known by hand (a linear model, a planted hot region).
"""
from __future__ import annotations

import numpy as np

IMAGE_SHAPE = (12, 12)
N_FEATURES = 4
LINEAR_WEIGHTS = np.array([2.0, -1.0, 0.5, 0.0], dtype=np.float32)
LINEAR_BIAS = 0.25
TEXT_CORPUS = [
    "a great and wonderful film", "an awful boring movie", "great acting and a great story",
    "boring plot and awful acting", "wonderful wonderful cast", "the movie was awful",
    "the film was great", "a dull and boring story",
]


def _seed(seed: int = 0) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def image_functional(n_classes: int = 3, seed: int = 0):
    """Functional CNN with a rescaling layer inside: (12, 12) raw pixels -> softmax."""
    import keras
    from keras import layers

    _seed(seed)
    inputs = keras.Input(IMAGE_SHAPE, name="pixels")
    x = layers.Reshape(IMAGE_SHAPE + (1,))(inputs)
    x = layers.Rescaling(1 / 255)(x)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_b")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="image_functional")


def image_sequential(seed: int = 0):
    """Sequential CNN on (12, 12, 1) float images -> softmax over 3 classes."""
    import keras
    from keras import layers

    _seed(seed)
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE + (1,)),
            layers.Conv2D(4, 3, padding="same", activation="relu", name="seq_conv"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ],
        name="image_sequential",
    )


def image_nested(seed: int = 0):
    """A base Functional convnet wrapped in an outer model with preprocessing: the last conv is nested."""
    import keras
    from keras import layers

    _seed(seed)
    base_in = keras.Input(IMAGE_SHAPE + (1,))
    b = layers.Conv2D(4, 3, padding="same", activation="relu", name="base_conv1")(base_in)
    b = layers.Conv2D(5, 3, padding="same", activation="relu", name="base_conv2")(b)
    base = keras.Model(base_in, b, name="backbone")
    inputs = keras.Input(IMAGE_SHAPE, name="pixels")
    x = layers.Reshape(IMAGE_SHAPE + (1,))(inputs)
    x = layers.Rescaling(1 / 255)(x)
    x = base(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="image_nested")


def _single_unit_image(name: str, activation: str | None, seed: int):
    import keras
    from keras import layers

    _seed(seed)
    inputs = keras.Input(IMAGE_SHAPE + (1,))
    prefix = "bin" if activation == "sigmoid" else "reg"
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name=f"{prefix}_conv")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation=activation)(x)
    return keras.Model(inputs, outputs, name=name)


def image_binary(seed: int = 0):
    """A single-sigmoid image model."""
    return _single_unit_image("image_binary", "sigmoid", seed)


def image_regression(seed: int = 0):
    """A scalar-regression image model."""
    return _single_unit_image("image_regression", None, seed)


def hot_region_model():
    """Class 1's score is the mean brightness of rows/cols 2-4, class 0's of the rest: the answer is known.

    A fixed 1x1 convolution copies the image and a fixed Dense layer weights the
    planted region, so removing that region is what lowers class 1 (deletion
    metrics rely on it).  Its spatially averaged gradients cancel, so plain
    Grad-CAM is flat on it by construction; tests/test_cam.py builds a detector
    model for the "Grad-CAM peaks on the planted region" invariant.
    """
    import keras
    from keras import layers

    mask = np.zeros(IMAGE_SHAPE, dtype=np.float32)
    mask[2:5, 2:5] = 1.0
    inputs = keras.Input(IMAGE_SHAPE + (1,))
    conv = layers.Conv2D(2, 1, use_bias=False, activation="relu", name="copy_conv")
    feature = conv(inputs)
    conv.set_weights([np.ones((1, 1, 1, 2), dtype=np.float32)])
    flat = layers.Flatten()(feature)
    dense = layers.Dense(2, name="region_scores")
    logits = dense(flat)
    w = np.zeros((IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * 2, 2), dtype=np.float32)
    in_region = np.repeat(mask.ravel(), 2)
    w[:, 1] = in_region / in_region.sum() * 10
    w[:, 0] = (1 - in_region) / (1 - in_region).sum() * 10
    dense.set_weights([w, np.zeros(2, dtype=np.float32)])
    outputs = layers.Softmax()(logits)
    return keras.Model(inputs, outputs, name="hot_region")


def hot_region_image() -> np.ndarray:
    image = np.full(IMAGE_SHAPE + (1,), 0.1, dtype=np.float32)
    image[2:5, 2:5, 0] = 1.0
    return image


def tabular_linear():
    """y = x . LINEAR_WEIGHTS + LINEAR_BIAS: SHAP values are w_i (x_i - E[x_i]) in closed form."""
    import keras
    from keras import layers

    inputs = keras.Input((N_FEATURES,), name="features")
    dense = layers.Dense(1, name="linear")
    outputs = dense(inputs)
    model = keras.Model(inputs, outputs, name="tabular_linear")
    dense.set_weights([LINEAR_WEIGHTS.reshape(-1, 1), np.array([LINEAR_BIAS], dtype=np.float32)])
    return model


def tabular_classifier(seed: int = 0):
    """An MLP with normalisation inside, softmax over 3 classes."""
    import keras
    from keras import layers

    _seed(seed)
    norm = layers.Normalization()
    norm.adapt(tabular_data(64, seed=1))
    inputs = keras.Input((N_FEATURES,))
    x = norm(inputs)
    x = layers.Dense(8, activation="relu")(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="tabular_classifier")


def tabular_data(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, N_FEATURES)).astype(np.float32)


def _corpus_vectorizer(name: str | None = None):
    """A TextVectorization adapted on TEXT_CORPUS: 40 tokens at most, texts padded to 12."""
    from keras import layers

    vectorizer = layers.TextVectorization(max_tokens=40, output_sequence_length=12, name=name)
    vectorizer.adapt(TEXT_CORPUS)
    return vectorizer


def _string_input(vectorizer_name: str):
    """(a raw-string input, its token ids): how the zoo's text models start."""
    import keras

    inputs = keras.Input((1,), dtype="string")
    return inputs, _corpus_vectorizer(vectorizer_name)(inputs)


def text_model(seed: int = 0):
    """Raw strings -> TextVectorization -> embedding -> Conv1D -> average pooling -> sigmoid."""
    import keras
    from keras import layers

    _seed(seed)
    inputs, ids = _string_input("vectorizer")
    x = layers.Embedding(40, 6)(ids)
    x = layers.Conv1D(5, 3, padding="same", activation="relu", name="text_conv")(x)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="text_model")


def keyword_function(texts) -> np.ndarray:
    """A plain text 'model': P(positive) rises with each 'great' and falls with each 'awful'."""
    scores = []
    for text in texts:
        words = str(text).lower().split()
        z = words.count("great") - words.count("awful")
        scores.append(1 / (1 + np.exp(-2 * z)))
    return np.array(scores).reshape(-1, 1)


def linear_function(x) -> np.ndarray:
    """A plain tabular 'model' with the same closed form as :func:`tabular_linear`."""
    return (np.asarray(x, dtype=np.float64) @ LINEAR_WEIGHTS.astype(np.float64) + LINEAR_BIAS).reshape(-1, 1)


def driver_function(x) -> np.ndarray:
    """Only feature 2 matters: a sigmoid in it (for 'LIME recovers the driving feature')."""
    x = np.asarray(x, dtype=np.float64)
    return (1 / (1 + np.exp(-3 * x[:, 2]))).reshape(-1, 1)


# ---- the kinds of models users bring that the first zoo lacked ---------------------------------
def lstm_text_model(seed: int = 0):
    """Raw strings -> TextVectorization -> masked embedding -> bidirectional LSTM -> sigmoid: no convolution."""
    import keras
    from keras import layers

    _seed(seed)
    inputs, ids = _string_input("lstm_vectorizer")
    x = layers.Embedding(40, 6, mask_zero=True)(ids)
    x = layers.Bidirectional(layers.LSTM(4))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="lstm_text")


def image_logits(seed: int = 0):
    """A CNN whose head has no activation, compiled with a from_logits loss: it returns logits."""
    import keras
    from keras import layers

    _seed(seed)
    inputs = keras.Input(IMAGE_SHAPE + (1,))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="logit_conv")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, outputs, name="image_logits")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def transfer_cnn(seed: int = 0):
    """A transfer-learning wrapper around a keras.applications base (weights=None) on 32x32 colour images."""
    import keras
    from keras import layers

    _seed(seed)
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35)
    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="transfer_cnn")


def application_cnn(base_name: str, size: int = 64, seed: int = 0):
    """A keras.applications base (weights=None) in a transfer-learning wrapper, its BatchNorm statistics set from
    a batch of random colour images so that outputs depend on the input (fresh statistics make them nearly flat)."""
    import keras
    from keras import layers

    _seed(seed)
    base = getattr(keras.applications, base_name)(input_shape=(size, size, 3), include_top=False, weights=None)
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.0  # one training-mode call stores exactly this batch's statistics
    base(np.random.default_rng(seed).uniform(0, 255, (8, size, size, 3)).astype("float32"), training=True)
    inputs = keras.Input((size, size, 3))
    x = layers.GlobalAveragePooling2D()(base(inputs, training=False))
    outputs = layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name=f"{base_name.lower()}_transfer")


def tabular_two_column(seed: int = 0):
    """The linear model's score as a two-class softmax head: column c is p(class c)."""
    import keras
    from keras import layers

    inputs = keras.Input((N_FEATURES,))
    dense = layers.Dense(2, activation="softmax")
    outputs = dense(inputs)
    model = keras.Model(inputs, outputs, name="tabular_two_column")
    kernel = np.stack([np.zeros(N_FEATURES), LINEAR_WEIGHTS], axis=1).astype(np.float32)
    dense.set_weights([kernel, np.array([0.0, LINEAR_BIAS], dtype=np.float32)])
    return model


def predict_proba_function(x) -> np.ndarray:
    """scikit-learn's predict_proba form of the same binary problem: columns (p(class 0), p(class 1))."""
    z = np.asarray(x, dtype=np.float64) @ LINEAR_WEIGHTS.astype(np.float64) + LINEAR_BIAS
    p = 1 / (1 + np.exp(-z))
    return np.column_stack([1 - p, p])


def sigmoid_function(x) -> np.ndarray:
    """The same binary problem as one column, p(class 1)."""
    return predict_proba_function(x)[:, 1:]


def token_model(seed: int = 0):
    """How most Keras text models are trained: token ids in (padded to 12), an Embedding, a Conv1D, a sigmoid."""
    import keras
    from keras import layers

    _seed(seed)
    inputs = keras.Input((12,), dtype="int32")
    x = layers.Embedding(40, 6)(inputs)
    x = layers.Conv1D(5, 3, padding="same", activation="relu", name="token_conv")(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x), name="token_model")


def corpus_vocabulary() -> list[str]:
    return [str(t) for t in _corpus_vectorizer().get_vocabulary()]


def python_tokenizer(vocabulary: list[str], length: int = 12):
    """How a user's own tokenizer looks: lower-case words to ids, 1 for unknown, padded with 0."""
    index = {word: i for i, word in enumerate(vocabulary)}

    def tokenize(texts: list[str]) -> np.ndarray:
        ids = np.zeros((len(texts), length), dtype=np.int64)
        for row, text in enumerate(texts):
            words = [index.get(w, 1) for w in text.lower().split()][:length]
            ids[row, : len(words)] = words
        return ids

    return tokenize


def transformer_text_model(seed: int = 0):
    """Raw strings -> TextVectorization -> embedding + one self-attention block -> average pooling -> softmax(2)."""
    import keras
    from keras import layers

    _seed(seed)
    inputs, ids = _string_input("attn_vectorizer")
    x = layers.Embedding(40, 8)(ids)
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = layers.LayerNormalization()(x + attended)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x), name="transformer_text")


def sklearn_pipeline_function():
    """A scikit-learn pipeline (scaler + logistic regression) on the linear problem, as users wrap it: predict_proba."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = tabular_data(200, seed=8)
    y = (x @ LINEAR_WEIGHTS + LINEAR_BIAS > 0).astype(int)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    return pipeline.predict_proba
