"""Latency and throughput of ``explain serve`` under concurrent clients, next to the same call in-process.

    EXPLAIN_MODELS_DIR=/work/bench_artifacts EXPLAIN_DATA_DIR=/work/shared/datasets \\
        python -m benchmarks.service_load [--requests 64] [--levels 1,8,32]

Starts its own servers on 127.0.0.1 (a free port, ``--no-auth``, a fresh store per run so nothing is answered
from an earlier run) and talks to them with a bounded asyncio httpx client: every request is a different test
input, so the store never answers (a cache hit is measured separately).  Prints Markdown tables:

- p50 / p95 latency and throughput at each concurrency for Grad-CAM on mnist_cnn, a gradient method on imdb_cnn
  and Kernel SHAP on housing_mlp, with the same calls made in-process (sequentially, same store) and the ratios;
- Grad-CAM with the micro-batcher off, to show what batching gives;
- LIME job throughput with 1 and 2 workers; the time from a restart (after a crash) to the recovered job running;
- every bad request tried, with the status and message it got.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.common import table

HOST = "127.0.0.1"  # the load test never leaves this machine
EXPLAIN = Path(sys.executable).parent / "explain"
CASES = [  # (model, method, params, truncate)
    ("mnist_cnn", "gradcam", {}, False),
    ("imdb_cnn", "integrated_gradients", {"steps": 32}, True),
    ("housing_mlp", "kernel_shap", {"nsamples": 256, "seed": 0}, False),
]


class Server:
    def __init__(self, *args: str) -> None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="service-load-"))
        self.args = ["serve", "--no-auth", "--host", HOST, "--port", str(self.port),
                     "--store", str(self.root / "store.sqlite"), "--max-batch", "64", *args]
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Seconds until /health answers."""
        started = time.perf_counter()
        log = open(self.root / "server.log", "ab")
        self.process = subprocess.Popen([str(EXPLAIN), *self.args], stdout=log, stderr=log)
        while True:
            try:
                httpx.get(f"{self.url}/health", timeout=1).raise_for_status()
                return time.perf_counter() - started
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    raise SystemExit(f"server failed: {(self.root / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.1)

    def stop(self, crash: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
            self.process.wait(30)


def _request(verb: str, url: str, **kwargs: Any) -> httpx.Response:
    """Generous timeouts: a server's first request loads the model (TensorFlow's import included)."""
    return httpx.request(verb, url, timeout=kwargs.pop("timeout", 300), **kwargs)


def _post(url: str, **kwargs: Any) -> httpx.Response:
    return _request("POST", url, **kwargs)


def _get(url: str, **kwargs: Any) -> httpx.Response:
    return _request("GET", url, **kwargs)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def load(url: str, bodies: list[dict[str, Any]], clients: int, path: str = "/explain") -> dict[str, float]:
    """Send every body once with at most ``clients`` in flight; latency of each, throughput of all."""
    latencies: list[float] = []
    failures = 0
    gate = asyncio.Semaphore(clients)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def one(body: dict[str, Any]) -> None:
            nonlocal failures
            async with gate:
                started = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        elapsed = time.perf_counter() - started
    return {"p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
            "req_per_s": len(bodies) / elapsed, "failed": failures}


def test_inputs(name: str, n: int, offset: int = 0) -> list[Any]:
    import models

    x, _ = models.load(name).test_split(limit=offset + n)
    return [v if isinstance(v, str) else np.asarray(v).tolist() for v in x[offset:offset + n]]


def in_process(name: str, method: str, params: dict[str, Any], truncate: bool, inputs: list[Any]) -> dict[str, float]:
    """The same calls through explain.explain in this process, one after another, with a store as the service has."""
    import explain
    import models

    predictor = explain.Predictor(models.load(name))

    def calls() -> tuple[list[float], float]:
        with explain.ExplanationStore(Path(tempfile.mkdtemp()) / "store.sqlite") as store:
            explain.explain(predictor, _array(inputs[-1]), method, truncate=truncate, **params)  # warm-up, not stored
            latencies = []
            started = time.perf_counter()
            for x in inputs:
                t = time.perf_counter()
                explain.explain(predictor, _array(x), method, truncate=truncate, store=store, **params)
                latencies.append(time.perf_counter() - t)
            return latencies, time.perf_counter() - started

    with ThreadPoolExecutor(1) as thread:  # a worker thread, as in the service (measurably faster than the main one)
        latencies, elapsed = thread.submit(calls).result()
    return {"p50_ms": 1000 * statistics.median(latencies), "req_per_s": len(inputs) / elapsed}


def _array(x: Any) -> Any:
    return x if isinstance(x, str) else np.asarray(x, dtype=np.float32)


def _bodies(name: str, method: str, params: dict[str, Any], truncate: bool, inputs: list[Any]) -> list[dict[str, Any]]:
    return [{"model": name, "inputs": [x], "method": method, "params": params, "truncate": truncate} for x in inputs]


def latency_tables(levels: list[int], n: int) -> list[dict[str, Any]]:
    rows = []
    for batch_window in ("5", "0"):
        server = Server("--batch-window-ms", batch_window, "--sync-threads", "2")
        server.start()
        try:
            for name, method, params, truncate in CASES if batch_window == "5" else CASES[:2]:
                # every level is warmed up by one round of its own inputs first (TensorFlow traces new batch sizes)
                inputs = test_inputs(name, n * len(levels) + sum(levels))
                local = in_process(name, method, params, truncate, inputs[:n])
                warm = n * len(levels)
                for i, clients in enumerate(levels):
                    chunk = inputs[i * n:(i + 1) * n]
                    warmup, warm = inputs[warm:warm + clients], warm + clients
                    asyncio.run(load(server.url, _bodies(name, method, params, truncate, warmup), clients))
                    measured = asyncio.run(load(server.url, _bodies(name, method, params, truncate, chunk), clients))
                    rows.append({"model": name, "method": method, "batching": batch_window != "0", "clients": clients,
                                 **measured, "in-process p50_ms": local["p50_ms"], "in-process req/s": local["req_per_s"],
                                 "p50 ratio": measured["p50_ms"] / local["p50_ms"],
                                 "throughput ratio": measured["req_per_s"] / local["req_per_s"]})
                    print(rows[-1], flush=True)
            hit = asyncio.run(load(server.url, _bodies(*CASES[0][:2], CASES[0][2], False, test_inputs("mnist_cnn", 1) * n), 8))
            rows.append({"model": "mnist_cnn", "method": "gradcam (store hit)", "batching": batch_window != "0",
                         "clients": 8, **hit})
        finally:
            server.stop()
    return rows


def job_rows(jobs: int, samples: int) -> list[dict[str, Any]]:
    rows = []
    images = test_inputs("mnist_cnn", jobs)
    for workers in (1, 2):
        server = Server("--workers", str(workers))
        server.start()
        try:
            body = {"model": "mnist_cnn", "method": "lime_image", "params": {"num_samples": samples, "seed": 0}}
            _post(f"{server.url}/explain", json={**body, "inputs": images[:1]}, timeout=300)  # warm-up
            started = time.perf_counter()
            ids = [_post(f"{server.url}/jobs", json={**body, "inputs": [x]}).json()["id"] for x in images[1:]]
            while any(_get(f"{server.url}/jobs/{i}").json()["status"] in ("queued", "running") for i in ids):
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
            done = sum(_get(f"{server.url}/jobs/{i}").json()["status"] == "done" for i in ids)
            rows.append({"workers": workers, "jobs": len(ids), "done": done, "seconds": elapsed,
                         "jobs_per_s": len(ids) / elapsed})
            print(rows[-1], flush=True)
        finally:
            server.stop()
    return rows


def recovery_row(samples: int) -> dict[str, Any]:
    """SIGKILL a server while its job runs; time the next server's start, its claim of the job, and the job's end."""
    server = Server("--workers", "1")
    server.start()
    try:
        body = {"model": "mnist_cnn", "method": "lime_image", "inputs": test_inputs("mnist_cnn", 16, offset=100),
                "params": {"num_samples": samples, "seed": 0}}
        job = _post(f"{server.url}/jobs", json=body).json()["id"]
        while _get(f"{server.url}/jobs/{job}").json()["progress"] == 0:  # running, with a chunk in the store
            time.sleep(0.05)
        server.stop(crash=True)
        restarted = time.perf_counter()
        up = server.start()
        while _get(f"{server.url}/jobs/{job}").json()["status"] != "running":
            time.sleep(0.05)
        running_again = time.perf_counter() - restarted
        while _get(f"{server.url}/jobs/{job}").json()["status"] == "running":
            time.sleep(0.1)
        status = _get(f"{server.url}/jobs/{job}").json()
        return {"server up (s)": up, "job claimed again (s)": running_again,
                "job done (s)": time.perf_counter() - restarted, "status": status["status"],
                "attempts": status["attempts"], "recovered": _get(f"{server.url}/health").json()["recovered_jobs"]}
    finally:
        server.stop()


def failure_rows() -> list[dict[str, Any]]:
    server = Server()
    server.start()
    image = test_inputs("mnist_cnn", 1)
    good = {"model": "mnist_cnn", "inputs": image, "method": "gradcam"}
    tries: list[tuple[str, str, str, Any]] = [
        ("unknown model", "POST", "/explain", {**good, "model": "resnet"}),
        ("unknown method", "POST", "/explain", {**good, "method": "magic"}),
        ("method for another modality", "POST", "/explain", {**good, "method": "lime_text"}),
        ("unknown parameter", "POST", "/explain", {**good, "params": {"colour": 1}}),
        ("parameter out of range", "POST", "/explain", {**good, "method": "lime_image", "params": {"num_samples": 0}}),
        ("sample count over the ceiling", "POST", "/explain", {**good, "method": "lime_image", "params": {"num_samples": 10**6}}),
        ("wrong input shape", "POST", "/explain", {**good, "inputs": [[1, 2, 3]]}),
        ("text to an image model", "POST", "/explain", {**good, "inputs": ["a digit"]}),
        ("target out of range", "POST", "/explain", {**good, "targets": 12}),
        ("too many inputs", "POST", "/explain", {**good, "inputs": image * 65}),
        ("unknown field", "POST", "/explain", {**good, "colour": "red"}),
        ("deadline passed", "POST", "/explain", {**good, "method": "lime_image", "params": {"num_samples": 4000}, "deadline_s": 0.05}),
        ("unknown job", "GET", "/jobs/nope", None),
        ("unknown explanation key", "GET", "/explanations/nope", None),
        ("not a .keras file", "UPLOAD", "/models", b"hello"),
    ]
    rows = []
    try:
        for what, verb, path, payload in tries:
            if verb == "UPLOAD":
                response = _post(f"{server.url}{path}", files={"file": ("m.keras", payload)})
            else:
                response = _request(verb, f"{server.url}{path}", json=payload, timeout=60)
            rows.append({"request": what, "status": response.status_code, "message": response.json().get("detail", "")})
    finally:
        server.stop()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=64, help="requests per concurrency level (default 64)")
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--jobs", type=int, default=12, help="LIME jobs per worker count")
    parser.add_argument("--lime-samples", type=int, default=1000)
    parser.add_argument("--skip", default="", help="comma-separated: latency,jobs,recovery,failures")
    args = parser.parse_args(argv)
    skip = set(args.skip.split(","))
    print(f"load before: {os.getloadavg()}; cpus: {os.cpu_count()}", flush=True)
    if "latency" not in skip:
        print(table(latency_tables([int(v) for v in args.levels.split(",")], args.requests), "Latency under concurrency"))
    if "jobs" not in skip:
        print(table(job_rows(args.jobs + 1, args.lime_samples), f"LIME jobs ({args.lime_samples} samples, one image each)"))
    if "recovery" not in skip:
        print(table([recovery_row(args.lime_samples)], "Restart after a crash (SIGKILL) with a job running"))
    if "failures" not in skip:
        print(table(failure_rows(), "Bad requests"))
    print(f"\nload after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
