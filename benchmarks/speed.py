"""Speed of every method on the reference models, as ratios measured side by side in one run.

    python -m benchmarks.speed [--inputs 3]

- time / floor for every method, where the floor is (model evaluations the
  method used) x (batched forward cost per input, measured here);
- LIME image at 1,000 samples against stock lime usage (its default
  ``batch_size=10`` calling ``model.predict``), checking the weights are identical;
- Grad-CAM on a batch against one forward + backward pass of the same batch;
- SHAP explainers against stock shap usage on the same model and inputs;
- peak memory of explaining 1,000 MNIST images in one call (in a fresh process).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import explainable_inputs, reference, table, timed
from explain import explain_batch
from explain.api import as_predictor

PER_METHOD = {
    "mnist_cnn": ["lime_image", "partition_shap", "gradient_shap", "gradcam", "gradcam_pp", "cam"],
    "imdb_cnn": ["lime_text", "partition_shap", "gradcam"],
    "housing_mlp": ["lime_tabular", "kernel_shap", "exact_shap", "gradient_shap"],
}


def forward_cost(ref, x, batch: int = 1000) -> float:
    """Seconds per input of one large batched forward pass (the floor's unit)."""
    predictor = as_predictor(ref)
    big = (list(x) * (batch // len(x) + 1))[:batch] if isinstance(x, list) else np.resize(x, (batch,) + x.shape[1:])
    seconds, _ = timed(lambda: predictor.predict(big), repeat=3)
    return seconds / batch


def floor_rows(n_inputs: int) -> list[dict]:
    rows = []
    for name, methods in PER_METHOD.items():
        ref = reference(name)
        x = explainable_inputs(ref, n_inputs)
        per_input = forward_cost(ref, x)
        for method in methods:
            explain_batch(ref, x[:1], method)  # warm: compile, caches
            started = time.perf_counter()
            explanations = explain_batch(ref, x, method)
            seconds = (time.perf_counter() - started) / len(explanations)
            evaluations = explanations[0].meta.get("n_evaluations")
            floor = evaluations * per_input if evaluations else None
            rows.append({"model": name, "method": method, "s / input": seconds,
                         "model evaluations": evaluations, "floor s": floor,
                         "time / floor": seconds / floor if floor else None})
            print(table(rows[-1:]), flush=True)
    return rows


def gradcam_rows(batch: int = 256) -> list[dict]:
    import tensorflow as tf

    ref = reference("mnist_cnn")
    x, _ = ref.test_split(limit=batch)
    model = ref.model
    xs = tf.constant(x.astype(np.float32))

    @tf.function
    def forward_backward(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(model(inputs, training=False))
        return tape.gradient(total, inputs)

    base, _ = timed(lambda: forward_backward(xs).numpy(), repeat=7, warmup=2)
    rows = []
    for method in ("gradcam", "gradcam_pp", "cam"):
        seconds, _ = timed(lambda: explain_batch(ref, x, method), repeat=7, warmup=2)
        rows.append({"method": method, "batch": batch, "explain_batch s": seconds,
                     "forward+backward s": base, "ratio": seconds / base})
    return rows


MEMORY_SCRIPT = """
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from benchmarks.common import memory_mib, reference
from explain import explain_batch
ref = reference("mnist_cnn")
x, _ = ref.test_split(limit=1000)
explain_batch(ref, x[:2], sys.argv[1])  # set-up (background, compiled functions) outside the measured call
before = memory_mib()["current"]
result = explain_batch(ref, x, sys.argv[1])
print(json.dumps({"n": len(result), "before_mib": before, "peak_mib": memory_mib()["peak"]}))
"""


def memory_rows(methods: tuple[str, ...] = ("gradcam", "gradient_shap", "lime_image")) -> list[dict]:
    rows = []
    for method in methods:
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, method], capture_output=True, text=True, check=True)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"method": method, "MNIST images in one call": figures["n"],
                     "peak RSS MiB (whole process)": figures["peak_mib"],
                     "RSS before the call MiB": figures["before_mib"],
                     "added by the call MiB (at most)": figures["peak_mib"] - figures["before_mib"],
                     "under 2 GiB": "yes" if figures["peak_mib"] < 2048 else "NO"})
        print(table(rows[-1:]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=3, help="test inputs per model for the per-method timings")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: floor,lime,gradcam,shap,memory")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    sections = []
    if "floor" not in skip:
        sections.append(table(floor_rows(args.inputs), "Time per input against the floor"))
    if "lime" not in skip:
        from benchmarks.stock import lime_image_rows

        sections.append(table(lime_image_rows(args.inputs), "LIME image against stock lime usage (1,000 samples)"))
    if "gradcam" not in skip:
        sections.append(table(gradcam_rows(), "CAM methods on a batch against one forward + backward pass"))
    if "shap" not in skip:
        from benchmarks.stock import shap_rows

        sections.append(table(shap_rows(args.inputs), "SHAP explainers against stock shap usage"))
    if "memory" not in skip:
        sections.append(table(memory_rows(), "Peak memory explaining 1,000 MNIST images in one call"))
    print("\n".join(sections))


if __name__ == "__main__":
    main()
