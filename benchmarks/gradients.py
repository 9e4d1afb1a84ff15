"""The gradient family (and occlusion, Grad-CAM) against its floor, first call and warm.

    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets \
        .venv/bin/python -m benchmarks.gradients [--n 32] [--resnet-n 4] [--resnet224-n 1] [--no-fresh]

The floor is measured in the same run, on the same inputs (the fastest of several
runs, since the machine is shared; method times are the median of 3 warm runs):

- gradient methods: ``passes`` x (seconds of ONE batched forward+backward pass of
  the explained score over the ``n`` inputs), with passes = 1 (saliency,
  gradient x input, Grad-CAM), ``samples`` (SmoothGrad), ``steps + 2``
  (Integrated Gradients: the path plus its two ends);
- occlusion: forward passes (``1 + patches``) x (seconds of ONE batched forward
  pass over the ``n`` inputs).

A method that batches its passes together (SmoothGrad's noisy copies, IG's
steps, occlusion's patches) fills larger batches than the ``n`` inputs alone,
so it can beat that floor (ratio < 1).  The stricter column, "/ full-batch
floor", prices every point at the per-point cost of a full batch
(``batch_size`` points in one pass): no batched implementation can be below it
by much.  Grad-CAM's backward pass stops at the last convolution, so it can
also cost less than the reference pass that differentiates down to the input.

"first call (fresh)" is the first explain_batch in a new process (model built,
nothing traced yet; TensorFlow's import and the model build are not counted);
"first call (here)" is the first call in this process, where the gradient
methods share one traced function (so only the first of them pays the tracing).

Speed does not depend on the weights, so the models are the MNIST CNN
architecture with its initial weights and a ResNet50 (``weights=None``) at
64x64 and at 224x224; no training or download is needed.  Every row runs the
explained score the methods use by default (the target's logit), target 0.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import table, timed

# method -> parameters; passes per input are read from the parameters (occlusion: from its meta)
METHODS = {
    "saliency": {},
    "gradient_x_input": {},
    "smoothgrad": {"samples": 32},
    "integrated_gradients": {"steps": 64},
    "occlusion": {},  # patch / stride per model, below
    "gradcam": {},
}
GRADIENT_BATCH = {"saliency", "gradient_x_input", "smoothgrad", "integrated_gradients"}  # take batch_size=
ROW_BUDGET_S = 180.0  # skip a row whose estimated first+warm time exceeds this


# ---- models and inputs (seeded, so a fresh process rebuilds the same ones) ---------------------------
def _mnist_cnn():
    import keras

    from models import mnist_cnn

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).integers(0, 256, size=(64, 28, 28)).astype("uint8")
    model = mnist_cnn.build(x, np.arange(64) % 10)
    return model if isinstance(model, keras.Model) else model[0]


def _resnet50(size: int):
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x), name=f"resnet50_{size}")


MODELS = {  # key -> (label, builder, input shape, batch size, occlusion parameters)
    "mnist": ("mnist_cnn (28x28)", _mnist_cnn, (28, 28), 256, {"patch": 4, "stride": 2}),
    "resnet64": ("resnet50 (64x64x3)", lambda: _resnet50(64), (64, 64, 3), 64, {"patch": 8, "stride": 4}),
    "resnet224": ("resnet50 (224x224x3)", lambda: _resnet50(224), (224, 224, 3), 16, {"patch": 32, "stride": 16}),
}


def _inputs(key: str, n: int) -> np.ndarray:
    shape = MODELS[key][2]
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (n, *shape)).astype("float32")


def _params(key: str, method: str) -> dict:
    params = dict(METHODS[method])
    if method == "occlusion":
        params.update(MODELS[key][4])
    if method in GRADIENT_BATCH:
        params["batch_size"] = MODELS[key][3]
    return params


def _passes(method: str, params: dict, explanation) -> int:
    if method == "smoothgrad":
        return int(params["samples"])
    if method == "integrated_gradients":
        return int(params["steps"]) + 2
    if method == "occlusion":
        return int(explanation.meta["n_evaluations"])
    return 1


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "batch_size") or "defaults"


# ---- the floor ---------------------------------------------------------------------------------------
def floors(predictor, inputs: np.ndarray, batch: int, repeat: int) -> dict[str, float]:
    """Seconds of one batched fwd+bwd / fwd pass over the inputs, and per point at a full batch."""
    from explain.gradients import GradientSpace

    space = GradientSpace(predictor, batch_size=batch)
    n = len(inputs)
    full = np.resize(inputs, (batch,) + inputs.shape[1:])
    grad_n = _fastest(lambda: space.gradients(inputs, space.encode(inputs), 1, [0] * n), repeat)
    fwd_n = _fastest(lambda: predictor.predict(inputs), repeat)
    grad_full = _fastest(lambda: space.gradients(full, space.encode(full), 1, [0] * batch), repeat)
    fwd_full = _fastest(lambda: predictor.predict(full), repeat)
    return {"grad_n": grad_n, "fwd_n": fwd_n, "grad_point": grad_full / batch, "fwd_point": fwd_full / batch}


def _fastest(fn, repeat: int) -> float:
    """The fastest of ``repeat`` runs after one warm-up: a floor is a best case (the machine is shared)."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


# ---- first call in a fresh process ------------------------------------------------------------------
def _first_call_child(key: str, method: str, n: int) -> None:
    import explain

    model = MODELS[key][1]()
    x = _inputs(key, n)
    predictor = explain.Predictor(model, batch_size=MODELS[key][3])
    started = time.perf_counter()
    explain.explain_batch(predictor, x, method, targets=0, **_params(key, method))
    print(json.dumps({"first": time.perf_counter() - started}))


def fresh_first_call(key: str, method: str, n: int) -> float | None:
    command = [sys.executable, "-m", "benchmarks.gradients", "--first-call", key, method, str(n)]
    out = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), cwd=os.getcwd())
    if out.returncode != 0:
        print(f"(fresh first call of {method} on {key} failed: {out.stderr.strip().splitlines()[-1:]})", flush=True)
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1])["first"])


# ---- one model ---------------------------------------------------------------------------------------
def run(key: str, n: int, fresh: bool, repeat: int = 3) -> list[dict]:
    import explain

    label, build, _, batch, _ = MODELS[key]
    model = build()
    inputs = _inputs(key, n)
    predictor = explain.Predictor(model, batch_size=batch)
    firsts, explanations = {}, {}
    for method in METHODS:  # first calls in this process, before anything else traces the gradient function
        started = time.perf_counter()
        explanations[method] = explain.explain_batch(predictor, inputs, method, targets=0, **_params(key, method))
        firsts[method] = time.perf_counter() - started
        print(f"({label}: first call of {method} {firsts[method]:.3f} s)", flush=True)
    floor = floors(predictor, inputs, batch, repeat=2 * repeat + 1)
    rows = []
    for method in METHODS:
        params = _params(key, method)
        passes = _passes(method, params, explanations[method][0])
        gradient = method != "occlusion"
        floor_s = passes * (floor["grad_n"] if gradient else floor["fwd_n"])
        full_floor_s = passes * n * (floor["grad_point"] if gradient else floor["fwd_point"])
        if firsts[method] * (repeat + 1) > ROW_BUDGET_S:
            warm = firsts[method] if firsts[method] < ROW_BUDGET_S else None  # one warm run at most
            if warm is not None:
                started = time.perf_counter()
                explain.explain_batch(predictor, inputs, method, targets=0, **params)
                warm = time.perf_counter() - started
        else:
            warm, _ = timed(lambda m=method, p=params: explain.explain_batch(predictor, inputs, m, targets=0, **p),
                            repeat=repeat, warmup=0)
        first_fresh = fresh_first_call(key, method, n) if fresh else None
        rows.append({
            "model": label, "method": method, "parameters": _describe(params), "inputs": n,
            "passes / input": f"{passes} {'fwd' if not gradient else 'fwd+bwd'}",
            "first call (fresh) s": first_fresh, "first call (here) s": firsts[method], "warm s": warm,
            "floor s": floor_s, "warm / floor": warm / floor_s if warm else None,
            "full-batch floor s": full_floor_s, "warm / full-batch floor": warm / full_floor_s if warm else None,
        })
        print(table(rows[-1:]), flush=True)
    print(f"({label}: one batched fwd+bwd over {n} inputs {floor['grad_n']:.4f} s, fwd {floor['fwd_n']:.4f} s; "
          f"per point at a batch of {batch}: fwd+bwd {floor['grad_point']:.5f} s, fwd {floor['fwd_point']:.5f} s)",
          flush=True)
    return rows


def occlusion_memory_note() -> str:
    """What the default occlusion (patch 4, stride 2) would hold in memory at once on a 224x224x3 image."""
    starts = len(range(0, 224 - 4 + 1, 2)) + (0 if (224 - 4) % 2 == 0 else 1)
    copies = 1 + starts * starts
    gib = copies * 224 * 224 * 3 * 4 / 2**30
    return (f"Occlusion with its defaults (patch=4, stride=2) on ONE 224x224x3 image makes {copies:,} copies, "
            f"stacked into one float32 array of {gib:.1f} GiB before the model sees any (not run here).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32, help="MNIST inputs per call")
    parser.add_argument("--resnet-n", type=int, default=4, help="ResNet50 64x64 inputs per call (0: skip)")
    parser.add_argument("--resnet224-n", type=int, default=1, help="ResNet50 224x224 inputs per call (0: skip)")
    parser.add_argument("--no-fresh", action="store_true", help="skip the first calls in fresh processes")
    parser.add_argument("--first-call", nargs=3, metavar=("MODEL", "METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_call:
        key, method, n = args.first_call
        _first_call_child(key, method, int(n))
        return
    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}", flush=True)
    fresh = not args.no_fresh
    rows = run("mnist", args.n, fresh)
    if args.resnet_n:
        rows += run("resnet64", args.resnet_n, fresh)
    if args.resnet224_n:
        rows += run("resnet224", args.resnet224_n, fresh, repeat=1)
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {' '.join(f.read().split()[:3])}", flush=True)
    print(table(rows, "Gradient family, occlusion and Grad-CAM against their floor"))
    print("\n" + occlusion_memory_note())


if __name__ == "__main__":
    main()
