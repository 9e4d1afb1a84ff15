"""Our gradient methods against peer libraries on the same model and inputs (tf-keras-vis, Xplique).

    python3 -m venv .peer_venv && .peer_venv/bin/pip install tensorflow==2.21.0 keras==3.15.1 \
        tf-keras-vis xplique scipy          # once; a separate venv, never a project dependency
    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets \
        .venv/bin/python -m benchmarks.peers [--n 32] [--peer-python .peer_venv/bin/python]

The trained MNIST CNN (``models.load("mnist_cnn")``) is saved as ``.keras`` with the
first ``n`` test images and our targets (the predicted classes) as ``.npy`` in a
temporary folder; a small script runs each peer method in the peer venv (in a
subprocess) and saves its maps.  Per method: our time and the peer's (first call,
and the median of 3 warm calls, in-process, model loading excluded), the median over inputs of the
per-image Spearman rank correlation between our map and the peer's, and the
largest difference relative to our map's peak.

Matched settings: the explained score is the target's logit (ours by default;
tf-keras-vis through its ``ReplaceToLinear`` model modifier, Xplique on the model
with its last activation set to linear, as both document), except occlusion
(ours drops the target's probability, so Xplique gets the softmax model).
Known differences: Xplique's SmoothGrad is |mean gradient| (ours and tf-keras-vis:
mean |gradient|), and its noise is an absolute standard deviation (given ours,
0.15 x the pixel range); noise draws differ in every library, so SmoothGrad maps
agree only up to Monte Carlo noise.  IG is compared at Xplique's rule (trapezoid,
50 steps, zero baseline) and at our default (Gauss-Legendre, 64 steps).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import reference, table

PEER_PYTHON = ".peer_venv/bin/python"

# (ours: method, parameters) per comparison, and the peer calls that match it
CASES = [
    ("saliency", "saliency", {}, [("tf-keras-vis", "Saliency"), ("xplique", "Saliency")]),
    ("smoothgrad (32 samples, noise 0.15)", "smoothgrad", {"samples": 32, "noise": 0.15},
     [("tf-keras-vis", "SmoothGrad"), ("xplique", "SmoothGrad")]),
    ("gradient_x_input", "gradient_x_input", {}, [("xplique", "GradientInput")]),
    ("integrated_gradients (trapezoid, 50 steps)", "integrated_gradients",
     {"steps": 50, "rule": "riemann_trapezoid", "baseline": "zeros"}, [("xplique", "IntegratedGradients")]),
    ("integrated_gradients (our default: Gauss-Legendre, 64)", "integrated_gradients", {},
     [("xplique", "IntegratedGradients")]),
    ("occlusion (patch 4, stride 2, fill 0)", "occlusion", {"patch": 4, "stride": 2, "fill": 0.0},
     [("xplique", "Occlusion")]),
    ("gradcam (score=logit)", "gradcam", {}, [("tf-keras-vis", "Gradcam"), ("xplique", "GradCAM")]),
]

PEER_SCRIPT = r'''
import json, os, sys, time, traceback
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras, tensorflow as tf

folder = sys.argv[1]
x = np.load(os.path.join(folder, "x.npy"))
targets = np.load(os.path.join(folder, "targets.npy"))
sigma = float(np.load(os.path.join(folder, "sigma.npy")))
conv = open(os.path.join(folder, "conv.txt")).read().strip()
load = lambda: keras.saving.load_model(os.path.join(folder, "model.keras"), safe_mode=True)

def logits_model():
    m = load()
    m.layers[-1].activation = keras.activations.linear
    return m

versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
try:
    import tf_keras_vis; versions["tf-keras-vis"] = tf_keras_vis.__version__
except Exception as exc:
    versions["tf-keras-vis"] = "import failed: %r" % (exc,)
try:
    import xplique; versions["xplique"] = xplique.__version__
except Exception as exc:
    versions["xplique"] = "import failed: %r" % (exc,)

def tfkv(name):
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore
    score = CategoricalScore([int(t) for t in targets])
    if name == "Gradcam":
        from tf_keras_vis.gradcam import Gradcam
        tool = Gradcam(load(), model_modifier=ReplaceToLinear(), clone=True)
        return lambda: tool(score, x, penultimate_layer=conv, normalize_cam=False)
    from tf_keras_vis.saliency import Saliency
    tool = Saliency(load(), model_modifier=ReplaceToLinear(), clone=True)
    if name == "SmoothGrad":
        np.random.seed(0)
        return lambda: tool(score, x, smooth_samples=32, smooth_noise=0.15, keepdims=True, normalize_map=False)
    return lambda: tool(score, x, keepdims=True, normalize_map=False)  # inputs have no channel axis: keep it

def xpl(name, ours_params):
    import xplique.attributions as A
    onehot = tf.one_hot(targets, 10)
    if name == "Occlusion":
        tool = A.Occlusion(load(), patch_size=4, patch_stride=2, occlusion_value=0.0)
    elif name == "SmoothGrad":
        tool = A.SmoothGrad(logits_model(), nb_samples=32, noise=sigma)
    elif name == "IntegratedGradients":
        tool = A.IntegratedGradients(logits_model(), steps=int(ours_params.get("steps", 50)), baseline_value=0.0)
    elif name == "GradCAM":
        tool = A.GradCAM(logits_model(), conv_layer=conv)
    else:
        tool = getattr(A, name)(logits_model())
    return lambda: tool.explain(x, onehot)

results = {"versions": versions, "runs": {}}
for key, library, name, ours_params in json.loads(open(os.path.join(folder, "cases.json")).read()):
    entry = {}
    try:
        started = time.perf_counter()
        run = tfkv(name) if library == "tf-keras-vis" else xpl(name, ours_params)
        maps = np.asarray(run(), dtype=np.float64)
        entry["first_s"] = time.perf_counter() - started
        warm = []
        for _ in range(3):
            started = time.perf_counter()
            maps = np.asarray(run(), dtype=np.float64)
            warm.append(time.perf_counter() - started)
        entry["warm_s"] = float(np.median(warm))
        if maps.ndim == 4 and maps.shape[-1] == 1:
            maps = maps[..., 0]
        np.save(os.path.join(folder, "peer_%s.npy" % key), maps)
        entry["shape"] = list(maps.shape)
    except Exception as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        entry["error"] = "%s: %s" % (type(exc).__name__, lines[-1][:300] if lines else "")
        entry["traceback"] = traceback.format_exc()[-1500:]
    results["runs"][key] = entry
    print(json.dumps({key: {k: v for k, v in entry.items() if k != "traceback"}}), flush=True)
json.dump(results, open(os.path.join(folder, "peer_results.json"), "w"))
'''


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(np.ravel(a), np.ravel(b)).statistic)


def run(n: int, peer_python: str) -> tuple[list[dict], dict]:
    import explain

    ref = reference("mnist_cnn")
    x, _ = ref.test_split(limit=n)
    x = x.astype(np.float32)
    predictor = explain.as_predictor(ref)
    ours: dict[str, tuple[np.ndarray, float, float]] = {}
    targets = None
    for key, (_, method, params, _) in enumerate(CASES):
        started = time.perf_counter()
        found = explain.explain_batch(predictor, x, method, **params)
        first = time.perf_counter() - started
        warm_times = []
        for _ in range(3):
            started = time.perf_counter()
            found = explain.explain_batch(predictor, x, method, **params)
            warm_times.append(time.perf_counter() - started)
        warm = float(np.median(warm_times))
        ours[str(key)] = (np.stack([e.attributions for e in found]), first, warm)
        if targets is None:
            targets = np.array([e.target for e in found])
        if method == "smoothgrad":
            sigma = float(np.median([e.meta["noise_sigma"] for e in found]))
        if method == "gradcam":
            conv = found[0].meta["layer"]
    with tempfile.TemporaryDirectory(prefix="peers_") as tmp:
        folder = Path(tmp)
        ref.model.save(folder / "model.keras")
        np.save(folder / "x.npy", x)
        np.save(folder / "targets.npy", targets)
        np.save(folder / "sigma.npy", np.array(sigma))
        (folder / "conv.txt").write_text(conv)
        cases = [(f"{key}_{library}", library, name, params)
                 for key, (_, _, params, peers) in enumerate(CASES) for library, name in peers]
        (folder / "cases.json").write_text(json.dumps(cases))
        (folder / "peer.py").write_text(PEER_SCRIPT)
        if not Path(peer_python).exists():
            raise FileNotFoundError(f"no peer interpreter at {peer_python}; create the peer venv (see the docstring)")
        started = time.perf_counter()
        out = subprocess.run([peer_python, str(folder / "peer.py"), str(folder)], capture_output=True, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        subprocess_s = time.perf_counter() - started
        if out.returncode != 0 or not (folder / "peer_results.json").exists():
            raise RuntimeError(f"the peer script failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
        peer = json.loads((folder / "peer_results.json").read_text())
        rows = []
        for key, (label, _, _, peers) in enumerate(CASES):
            mine, first, warm = ours[str(key)]
            for library, name in peers:
                entry = peer["runs"][f"{key}_{library}"]
                row = {"comparison": label, "peer": f"{library} {name}", "inputs": n,
                       "ours first s": first, "ours warm s": warm,
                       "peer first s": entry.get("first_s"), "peer warm s": entry.get("warm_s"),
                       "peer / ours (warm)": None, "median Spearman": None, "median Spearman of abs": None,
                       "max abs diff / our peak": None, "error": entry.get("error", "")}
                if "error" not in entry:
                    theirs = np.load(folder / f"peer_{key}_{library}.npy")
                    if theirs.shape != mine.shape:
                        row["error"] = f"peer maps shaped {theirs.shape}, ours {mine.shape}"
                    else:
                        row["peer / ours (warm)"] = entry["warm_s"] / warm
                        row["median Spearman"] = float(np.nanmedian([_spearman(a, b) for a, b in zip(mine, theirs)]))
                        row["median Spearman of abs"] = float(np.nanmedian(
                            [_spearman(np.abs(a), np.abs(b)) for a, b in zip(mine, theirs)]))
                        peak = np.max(np.abs(mine), axis=tuple(range(1, mine.ndim)), keepdims=True)
                        row["max abs diff / our peak"] = float(np.max(np.abs(mine - theirs) / np.where(peak > 0, peak, 1)))
                rows.append(row)
                print(table(rows[-1:]), flush=True)
        errors = {k: v["traceback"] for k, v in peer["runs"].items() if "traceback" in v}
        return rows, {"versions": peer["versions"], "subprocess_s": subprocess_s, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32, help="MNIST test images")
    parser.add_argument("--peer-python", default=PEER_PYTHON, help="the peer venv's python")
    args = parser.parse_args()
    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}", flush=True)
    try:
        rows, info = run(args.n, args.peer_python)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"\nNo peer comparison: {exc}")
        return
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {' '.join(f.read().split()[:3])}", flush=True)
    print(f"\npeer venv: {info['versions']}; peer subprocess wall time {info['subprocess_s']:.1f} s (incl. imports)")
    print(table(rows, "Ours against peer libraries (mnist_cnn, trained)"))
    for key, trace in info["errors"].items():
        print(f"\npeer error in {key}:\n```\n{trace.strip()}\n```")


if __name__ == "__main__":
    main()
