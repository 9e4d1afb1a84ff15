"""Our methods against the stock way of calling lime and shap, on the same models and inputs.

"Stock" is what the libraries' documentation shows: ``model.predict`` as the
prediction function, each library's default batch size, all outputs explained.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from benchmarks.common import reference
from explain import explain, explain_batch
from explain.api import as_predictor
from explain.segmentation import segmenter


def _per_input(fn: Callable[[], Any], n: int) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) / n


def lime_image_rows(n: int = 3, num_samples: int = 1000) -> list[dict]:
    """Ours vs LimeImageExplainer with model.predict and lime's default batch_size=10; same seed."""
    from lime.lime_image import LimeImageExplainer

    ref = reference("mnist_cnn")
    x, _ = ref.test_split(limit=n)
    predictor = as_predictor(ref)
    explain(ref, x[0], "lime_image")  # warm
    rows = []
    for i, image in enumerate(x.astype(np.float32)):
        ours_s = _per_input(lambda: explain(ref, image, "lime_image", num_samples=num_samples, seed=0), 1)
        ours = explain(ref, image, "lime_image", num_samples=num_samples, seed=0)
        started = time.perf_counter()
        stock = LimeImageExplainer(random_state=0).explain_instance(
            image, lambda batch: ref.model.predict(batch[..., 0], verbose=0), top_labels=10, hide_color=0.0,
            num_samples=num_samples, segmentation_fn=segmenter("grid", 49),
        )
        stock_s = time.perf_counter() - started
        weights = np.zeros(len(np.unique(stock.segments)))
        for segment_id, weight in stock.local_exp[ours.target]:
            weights[segment_id] = weight
        ours_weights = np.array([ours.attributions[ours.meta["segments"] == s][0] for s in range(len(weights))])
        floor = _per_input(lambda: predictor.predict(np.resize(image, (num_samples, 28, 28))), 1)
        rows.append({"image": i, "ours s": ours_s, "stock s": stock_s, "speed-up": stock_s / ours_s,
                     "floor s (1,000 batched forwards)": floor, "ours / floor": ours_s / floor,
                     "max abs weight difference": float(np.max(np.abs(weights - ours_weights)))})
    return rows


def shap_rows(n: int = 3) -> list[dict]:
    """Each SHAP explainer of ours against the stock shap call on the same model and inputs."""
    import shap

    rows = []
    mnist = reference("mnist_cnn")
    x, _ = mnist.test_split(limit=n)
    x = x.astype(np.float32)
    background = as_predictor(mnist).background[:100]
    predict = lambda batch: mnist.model.predict(np.asarray(batch).reshape(-1, 28, 28), verbose=0)  # noqa: E731
    cases = [
        ("mnist_cnn", "gradient_shap", mnist, x, lambda: shap.GradientExplainer(mnist.model, background).shap_values(x)),
        ("mnist_cnn", "deep_shap", mnist, x, lambda: shap.DeepExplainer(mnist.model, background).shap_values(x, check_additivity=False)),
        ("mnist_cnn", "partition_shap", mnist, x,
         lambda: shap.Explainer(predict, shap.maskers.Image(np.zeros((28, 28, 1)), (28, 28, 1)))(x[..., None], max_evals=500)),
    ]
    imdb = reference("imdb_cnn")
    texts, _ = imdb.test_split(limit=n)
    p = as_predictor(imdb)
    texts = [p.join_tokens(p.text_view(t).tokens) for t in texts]
    cases.append(("imdb_cnn", "partition_shap", imdb, texts,
                  lambda: shap.Explainer(lambda t: imdb.model.predict(np.array(list(t), dtype=object), verbose=0),
                                         shap.maskers.Text(r"\W+"))(texts, max_evals=500)))
    housing = reference("housing_mlp")
    rows_x, _ = housing.test_split(limit=n)
    housing_bg = as_predictor(housing).background[:100]
    housing_predict = lambda b: housing.model.predict(b, verbose=0)  # noqa: E731
    cases += [
        ("housing_mlp", "kernel_shap", housing, rows_x,
         lambda: shap.KernelExplainer(housing_predict, shap.kmeans(housing_bg, 50)).shap_values(rows_x, silent=True)),
        ("housing_mlp", "exact_shap", housing, rows_x,
         lambda: shap.explainers.Exact(housing_predict, shap.maskers.Independent(housing_bg, 100))(rows_x)),
        ("housing_mlp", "gradient_shap", housing, rows_x, lambda: shap.GradientExplainer(housing.model, housing_bg).shap_values(rows_x)),
    ]
    for model_name, method, ref, inputs, stock in cases:
        explain_batch(ref, inputs[:1], method)  # warm: compile and cache set-up, as stock gets below
        stock()
        ours_s = _per_input(lambda: explain_batch(ref, inputs, method), len(inputs))
        stock_s = _per_input(stock, len(inputs))
        rows.append({"model": model_name, "method": method, "ours s / input": ours_s,
                     "stock s / input": stock_s, "speed-up": stock_s / ours_s})
        print(rows[-1], flush=True)
    return rows
