"""A small client for ``explain serve``, so a notebook or another service calls it in three lines.

>>> from explain.client import Client                                     # doctest: +SKIP
>>> service = Client("http://127.0.0.1:8000", token="...")                # doctest: +SKIP
>>> e = service.explain("mnist_cnn", [image.tolist()], "gradcam")[0]      # doctest: +SKIP
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import httpx
import numpy as np

from .explanation import Explanation

__all__ = ["Client", "ServiceError"]


class ServiceError(RuntimeError):
    """The service refused or failed a request: ``status``, ``error`` and ``detail`` (what to do)."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        self.status = status
        self.error = str(payload.get("error", "error"))
        self.detail = str(payload.get("detail", ""))
        self.payload = payload
        super().__init__(f"{status} {self.error}: {self.detail}")


class Client:
    """Calls one service; every method raises :class:`ServiceError` with the service's message on failure."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 120.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": "not JSON", "detail": response.text[:200]}
        if response.status_code >= 400:
            raise ServiceError(response.status_code, payload)
        return payload

    # ---- models ---------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def models(self) -> list[dict[str, Any]]:
        return self._call("GET", "/models")["models"]

    def model(self, model_id: str) -> dict[str, Any]:
        return self._call("GET", f"/models/{model_id}")

    def upload_model(self, path: str | Path, class_names: Sequence[str] | None = None, output: str | None = None) -> str:
        """Upload a ``.keras`` file once; returns its id (the content hash), the same on every upload."""
        data = {k: v for k, v in (("class_names", ",".join(class_names or [])), ("output", output)) if v}
        with open(path, "rb") as handle:
            return self._call("POST", "/models", files={"file": (Path(path).name, handle)}, data=data)["id"]

    # ---- explanations ---------------------------------------------------------------------
    def request(self, model: str, inputs: Any, method: str = "gradcam", *, targets: Any = None,
                scores: bool | Sequence[str] = False, deadline_s: float | None = None, **params: Any) -> dict[str, Any]:
        """The full reply of POST /explain: explanations (as dicts), store keys, cached flags, quality."""
        return self._call("POST", "/explain", json=_body(model, inputs, method, targets, scores, deadline_s, params))

    def explain(self, model: str, inputs: Any, method: str = "gradcam", **options: Any) -> list[Explanation]:
        """One :class:`~explain.explanation.Explanation` per input (options as :meth:`request`)."""
        return _explanations(self.request(model, inputs, method, **options))

    def stored(self, key: str) -> Explanation:
        return Explanation.from_dict(self._call("GET", f"/explanations/{key}"))

    # ---- jobs -----------------------------------------------------------------------------
    def submit(self, model: str, inputs: Any, method: str = "gradcam", *, targets: Any = None,
               scores: bool | Sequence[str] = False, **params: Any) -> str:
        """Queue a job; returns its id."""
        return self._call("POST", "/jobs", json=_body(model, inputs, method, targets, scores, None, params))["id"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/jobs/{job_id}")

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 0.5) -> list[Explanation]:
        """The job's explanations once it is done; a failed or cancelled job raises with its error."""
        ends = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] == "done":
                return _explanations(job["result"])
            if job["status"] in ("failed", "cancelled"):
                raise ServiceError(200, job.get("error") or {"error": job["status"], "detail": f"job {job_id} was {job['status']}."})
            if time.monotonic() > ends:
                raise TimeoutError(f"Job {job_id} is still {job['status']} after {timeout:g} s; call wait() again.")
            time.sleep(poll)


def _body(model: str, inputs: Any, method: str, targets: Any, scores: Any, deadline_s: float | None,
          params: dict[str, Any]) -> dict[str, Any]:
    batch = [np.asarray(x).tolist() if isinstance(x, np.ndarray) else x for x in inputs]
    body = {"model": model, "inputs": batch, "method": method, "params": params, "targets": targets,
            "scores": list(scores) if isinstance(scores, (list, tuple)) else bool(scores)}
    if deadline_s is not None:
        body["deadline_s"] = deadline_s
    return body


def _explanations(reply: dict[str, Any]) -> list[Explanation]:
    return [Explanation.from_dict(e) for e in reply["explanations"]]
