"""A real ``explain serve`` process on a free port: upload, explain, a LIME job polled to the end, and a server
killed in the middle of a job that the next server finds and finishes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import zoo as z
from explain.client import Client, ServiceError

pytestmark = pytest.mark.integration
TOKEN = "integration-token-0123456789"
EXPLAIN = Path(sys.executable).parent / "explain"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One ``explain serve`` process; ``start()`` waits until /health answers."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port, self.process = root, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 90.0) -> "Server":
        env = {**os.environ, "EXPLAIN_SERVICE_TOKENS": TOKEN, "EXPLAIN_MODELS_DIR": str(self.root / "artifacts"),
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        log = open(self.root / "server.log", "ab")
        self.process = subprocess.Popen([str(EXPLAIN), "serve", "--port", str(self.port), "--workers", "1",
                                         "--store", str(self.root / "store.sqlite")], env=env, stdout=log, stderr=log)
        ends = time.monotonic() + timeout
        with Client(self.url, TOKEN, timeout=2) as probe:
            while time.monotonic() < ends:
                if self.process.poll() is not None:
                    raise AssertionError(f"server exited: {(self.root / 'server.log').read_text()[-2000:]}")
                try:
                    probe.health()
                    return self
                except Exception:
                    time.sleep(0.2)
        raise AssertionError("server did not start")

    def kill(self) -> None:
        """As a crash does: no shutdown, no clean-up."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """One server for the module (each start pays TensorFlow's import); the crash test restarts it."""
    running = Server(tmp_path_factory.mktemp("server"), _free_port()).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def image_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "image.keras"
    z.image_functional().save(path)
    return path


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n,) + z.IMAGE_SHAPE).astype(np.float32)


def test_upload_explain_and_a_lime_job_against_a_real_server(server: Server, image_model: Path) -> None:
    with pytest.raises(ServiceError) as refused:
        Client(server.url).models()
    assert refused.value.status == 401
    with Client(server.url, TOKEN) as service:
        model = service.upload_model(image_model)
        assert "gradcam" in service.model(model)["methods"]
        first = service.request(model, _images(2), "gradcam")
        again = service.request(model, _images(2), "gradcam")
        assert first["cached"] == [False, False] and again["cached"] == [True, True]
        assert service.stored(first["keys"][1]).attributions.shape == z.IMAGE_SHAPE
        job = service.submit(model, _images(3, seed=1), "lime_image", num_samples=100, seed=0)
        lime = service.wait(job, timeout=60, poll=0.1)
        assert [e.method for e in lime] == ["lime_image"] * 3 and service.job(job)["progress"] == 1.0


def test_a_job_interrupted_by_a_crash_is_found_and_finished_by_the_next_server(server: Server, image_model: Path) -> None:
    with Client(server.url, TOKEN) as service:
        model = service.upload_model(image_model)
        job = service.submit(model, _images(24, seed=2), "lime_image", num_samples=200, seed=0)
        ends = time.monotonic() + 60
        while service.job(job)["status"] == "queued" and time.monotonic() < ends:
            time.sleep(0.02)
        assert service.job(job)["status"] == "running"
    server.kill()
    server.start()
    with Client(server.url, TOKEN) as service:
        assert service.health()["recovered_jobs"] == {"requeued": 1, "failed": 0}
        explanations = service.wait(job, timeout=120, poll=0.1)
        status = service.job(job)
    assert len(explanations) == 24 and status["status"] == "done" and status["attempts"] == 2
