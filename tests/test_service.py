"""The HTTP service through FastAPI's test client: every endpoint, authentication, limits, bad inputs and the
messages they get, the store as the cache, jobs (cancel, 429, crash recovery) and the micro-batcher."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

import explain
import zoo as z
from explain.client import Client, ServiceError as ClientError
from explain.explanation import Explanation
from explain.methods.gradcam import GradCAM
from explain.service import ServiceSettings, StartupRefused, check_startable, create_app, read_tokens
from explain.service.jobs import JobStore
from explain.service.schemas import ExplainRequest

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """Tiny zoo models as .keras files, as a user would upload them."""
    folder = tmp_path_factory.mktemp("uploads")
    paths = {"image": folder / "image.keras", "text": folder / "text.keras", "tabular": folder / "tabular.keras"}
    z.image_functional().save(paths["image"])
    z.text_model().save(paths["text"])
    z.tabular_linear().save(paths["tabular"])
    return paths


def _settings(root: Path, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = dict(models_dir=root / "artifacts", store=root / "store.sqlite", tokens=frozenset({TOKEN}))
    return ServiceSettings(**{**values, **overrides})


@pytest.fixture(scope="module")
def service(tmp_path_factory, saved) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """One running service (tokens on) with the three zoo models uploaded; yields the client and model ids."""
    app = create_app(_settings(tmp_path_factory.mktemp("service")))
    with TestClient(app, raise_server_exceptions=False) as client:
        ids = {kind: _upload(client, path).json()["id"] for kind, path in saved.items()}
        yield client, ids


def _upload(client: TestClient, path: Path, **form: str):
    return client.post("/models", files={"file": (path.name, path.read_bytes())}, data=form, headers=AUTH)


def _images(n: int, seed: int = 0) -> list:
    return np.random.default_rng(seed).integers(0, 256, size=(n,) + z.IMAGE_SHAPE).tolist()


def _explain(client: TestClient, **body: Any):
    """POST /explain; as Python's json writes it (so NaN can be sent, as some clients do)."""
    return client.post("/explain", content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"})


def _wait(client: TestClient, job_id: str, until: tuple[str, ...] = ("done", "failed", "cancelled"), timeout: float = 30):
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        job = client.get(f"/jobs/{job_id}", headers=AUTH).json()
        if job["status"] in until:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']}")


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) >= {"error", "detail"} and "Traceback" not in response.text
    return payload["detail"]


# ---- health, docs, auth ---------------------------------------------------------------------------
def test_health_and_docs_need_no_token_and_everything_else_does(service) -> None:
    client, _ = service
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/explain", "/jobs", "/models", "/jobs/{job_id}"}
    missing = client.get("/models")
    assert "Authorization: Bearer" in _error(missing, 401) and missing.headers["www-authenticate"] == "Bearer"
    assert "not one this service accepts" in _error(client.get("/models", headers={"Authorization": "Bearer nope"}), 401)
    assert "Bearer" in _error(client.get("/models", headers={"Authorization": TOKEN}), 401)  # no scheme
    assert client.get("/models", headers=AUTH).status_code == 200


def test_the_service_refuses_to_start_without_tokens_unless_local_and_explicit(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(StartupRefused, match="--token-file"):
        check_startable(ServiceSettings())
    with pytest.raises(StartupRefused, match="only allowed on localhost"):
        check_startable(ServiceSettings(no_auth=True, host="0.0.0.0"))
    check_startable(ServiceSettings(no_auth=True, host="127.0.0.1"))
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# the team's tokens\n{TOKEN}\n\n", encoding="utf-8")
    monkeypatch.setenv("EXPLAIN_SERVICE_TOKENS", "another-token-abcdefghij")
    assert read_tokens(tokens) == {TOKEN, "another-token-abcdefghij"}
    with pytest.raises(StartupRefused, match="shorter than 16"):
        read_tokens(None, {"EXPLAIN_SERVICE_TOKENS": "short"})
    with pytest.raises(StartupRefused, match="no such file"):
        read_tokens(tmp_path / "absent")


def test_cli_serve_refuses_without_tokens(capsys) -> None:
    from explain.cli import main

    assert main(["serve", "--port", "1"]) == 2
    assert "No bearer tokens" in capsys.readouterr().err


def test_cors_is_closed_unless_an_origin_is_configured(tmp_path: Path) -> None:
    preflight = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    closed = TestClient(create_app(_settings(tmp_path / "a")))
    assert "access-control-allow-origin" not in closed.options("/explain", headers=preflight).headers
    opened = TestClient(create_app(_settings(tmp_path / "b", cors_origins=("http://app.example",))))
    assert opened.options("/explain", headers=preflight).headers["access-control-allow-origin"] == "http://app.example"


# ---- models -------------------------------------------------------------------------------------
def test_models_lists_reference_models_and_uploads(service) -> None:
    client, ids = service
    rows = {row["id"]: row for row in client.get("/models", headers=AUTH).json()["models"]}
    assert {"mnist_cnn", "imdb_cnn", "housing_mlp"} <= set(rows) and rows["mnist_cnn"]["trained"] is False
    assert rows[ids["image"]]["kind"] == "upload" and rows[ids["image"]]["trained"] is True


def test_a_model_is_described_by_its_adapter(service) -> None:
    client, ids = service
    image = client.get(f"/models/{ids['image']}", headers=AUTH).json()
    assert (image["modality"], image["output"], image["input_shape"]) == ("image", "multiclass", [12, 12])
    assert "gradcam" in image["methods"] and "lime_text" not in image["methods"]
    text = client.get(f"/models/{ids['text']}", headers=AUTH).json()
    assert (text["modality"], text["output"]) == ("text", "binary") and "lime_text" in text["methods"]
    assert "explain train mnist_cnn" in _error(client.get("/models/mnist_cnn", headers=AUTH), 409)
    assert "GET /models lists them" in _error(client.get("/models/no_such_model", headers=AUTH), 404)


def test_uploads_are_identified_by_content_and_checked(service, saved, tmp_path: Path) -> None:
    client, ids = service
    again = _upload(client, saved["image"])
    assert again.status_code == 200 and again.json() == {**again.json(), "id": ids["image"], "created": False}
    named = _upload(client, saved["text"], class_names="negative,positive")
    assert named.status_code == 201 and named.json()["description"]["class_names"] == ["negative", "positive"]
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip at all")
    assert "junk.keras is not a .keras model file (not a zip archive" in _error(_upload(client, junk), 400)
    no_config = tmp_path / "no_config.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("model.weights.h5", b"\0" * 10)
    assert "no config.json" in _error(_upload(client, no_config), 400)
    assert "class names" in _error(_upload(client, saved["image"], class_names="one,two"), 400)  # 3 classes
    empty = client.post("/models", files={"file": ("e.keras", b"")}, headers=AUTH)
    assert "empty" in _error(empty, 400)
    assert "file" in _error(client.post("/models", headers=AUTH), 422)


def test_uploads_and_bodies_past_their_limits_get_413(tmp_path: Path, saved) -> None:
    app = create_app(_settings(tmp_path, max_upload_bytes=1000, max_body_bytes=2000))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert "at most 1,000" in _error(_upload(client, saved["image"]), 413)
        big = {"model": "x", "inputs": _images(4), "method": "gradcam"}
        assert "at most 2,000" in _error(client.post("/explain", json=big, headers=AUTH), 413)
        chunked = client.post("/explain", content=iter([b"{" + b" " * 1500, b" " * 1500 + b"}"]), headers=AUTH)
        assert "at most 2,000" in _error(chunked, 413)  # no Content-Length: counted while it streams


# ---- explain --------------------------------------------------------------------------------------
def test_explain_returns_explanations_keys_and_quality(service) -> None:
    client, ids = service
    reply = _explain(client, model=ids["image"], inputs=_images(2), method="gradcam", scores=True).json()
    assert reply["method"] == "gradcam" and len(reply["explanations"]) == len(reply["keys"]) == 2
    first = Explanation.from_dict(reply["explanations"][0])
    assert first.method == "gradcam" and first.attributions.shape == z.IMAGE_SHAPE
    assert all(isinstance(q["faithfulness_gain"], float) for q in reply["quality"])
    stored = client.get(f"/explanations/{reply['keys'][0]}", headers=AUTH)
    assert Explanation.from_dict(stored.json()) == first
    assert "keys" in _error(client.get("/explanations/abc", headers=AUTH), 404)


def test_quality_fields_carry_seed_additivity_and_completeness(service) -> None:
    client, ids = service
    rows = z.tabular_data(2, seed=3).tolist()
    ig = _explain(client, model=ids["tabular"], inputs=rows, method="integrated_gradients").json()
    assert all(abs(q["completeness_gap"]) < 1e-3 for q in ig["quality"])  # a linear model: exact
    background = z.tabular_data(20, seed=1).tolist()
    shap = _explain(client, model=ids["tabular"], inputs=rows, method="kernel_shap", scores=["additivity"],
                    params={"background": background, "nsamples": 64, "seed": 5}).json()
    assert [q["seed"] for q in shap["quality"]] == [5, 5] and all(q["additivity_gap"] < 1e-3 for q in shap["quality"])
    lime = _explain(client, model=ids["text"], inputs=["a great film", "an awful movie"], method="lime_text",
                    params={"num_samples": 50, "seed": 1}).json()
    assert Explanation.from_dict(lime["explanations"][0]).tokens() == ["a", "great", "film"]


def test_the_store_answers_a_repeated_request_without_computing(service, monkeypatch) -> None:
    client, ids = service
    calls = []
    original = GradCAM.attribute
    monkeypatch.setattr(GradCAM, "attribute", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    body = dict(model=ids["image"], inputs=_images(1, seed=42), method="gradcam", params={"score": "log_p"})
    first = _explain(client, **body).json()
    second = _explain(client, **body).json()
    assert calls == [1] and first["cached"] == [False] and second["cached"] == [True]
    assert second["explanations"] == first["explanations"]


@pytest.mark.parametrize("body, status, message", [
    ({"method": "nope"}, 422, "Unknown method 'nope'; known methods"),
    ({"method": "lime_text"}, 422, "Methods for this model: cam"),
    ({"params": {"colour": 1}}, 422, "Method 'gradcam' has no parameter 'colour'; it accepts: layer"),
    ({"params": {"score": "loud"}}, 422, "parameter 'score' must be one of"),
    ({"method": "lime_image", "params": {"num_samples": 0}}, 422, "'num_samples' must be between 1 and"),
    ({"method": "lime_image", "params": {"num_samples": 10**6}}, 422, "above this service's ceiling of 5,000"),
    ({"method": "lime_image", "params": {"num_samples": "many"}}, 422, "'num_samples' must be int"),
    ({"inputs": [[1, 2], [3, 4]]}, 422, "Expected one input of shape (12, 12)"),
    ({"inputs": ["a picture"]}, 422, "takes numeric arrays, not text"),
    ({"inputs": [[[1.0] * 12] * 12, [[2.0] * 11] * 12]}, 422, "numeric array"),
    ({"inputs": [[[float("nan")] * 12] * 12]}, 422, "NaN"),
    ({"inputs": []}, 422, "inputs is empty"),
    ({"inputs": [[[0] * 12] * 12] * 17}, 413, "at most 16. Split the batch or submit a job"),
    ({"targets": 7}, 422, "target 7 is out of range: this model has 3 classes"),
    ({"targets": [0, 1, 2]}, 422, "Got 3 targets for 1 inputs"),
    ({"scores": ["beauty"]}, 422, "Unknown metrics ['beauty']"),
    ({"colour": "red"}, 422, "colour: Extra inputs are not permitted"),
    ({"deadline_s": -1}, 422, "deadline_s: Input should be greater than 0"),
    ({"model": "mnist_cnn"}, 409, "explain train mnist_cnn"),
    ({"model": "0123456789abcdef"}, 404, "No model '0123456789abcdef'"),
])
def test_bad_requests_get_the_status_and_the_message_that_says_what_to_do(service, body, status, message) -> None:
    client, ids = service
    request = {"model": ids["image"], "inputs": _images(1), "method": "gradcam", **body}
    assert message in _error(_explain(client, **request), status)


def test_a_batch_shaped_like_one_input_is_refused_not_misread(service) -> None:
    client, ids = service
    assert "wrap it in a list" in _error(_explain(client, model=ids["tabular"], inputs=[1, 2, 3, 4],
                                                  method="saliency"), 422)
    assert "numeric arrays, not text" not in _error(_explain(client, model=ids["text"], inputs=[3], method="lime_text"), 422)


def test_malformed_json_and_unknown_routes_get_json_errors(service) -> None:
    client, _ = service
    broken = client.post("/explain", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert "JSON decode error" in _error(broken, 422)
    assert "/docs" in _error(client.get("/nowhere", headers=AUTH), 404)
    assert "/docs" in _error(client.put("/explain", headers=AUTH), 405)


def test_an_unexpected_failure_is_logged_and_answered_with_an_id_not_a_trace(service, monkeypatch, caplog) -> None:
    client, _ = service
    svc = client.app.state.service

    def broken() -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(svc.models, "summaries", broken)
    response = client.get("/models", headers=AUTH)
    detail = _error(response, 500)
    assert "secret internals" not in response.text and response.json()["error_id"] in detail
    assert any(response.json()["error_id"] in r.getMessage() and r.exc_info for r in caplog.records)


# ---- deadlines and jobs -----------------------------------------------------------------------------
def _slowed(monkeypatch, svc, seconds: float) -> threading.Event:
    """Every engine run waits ``seconds`` first (or until released): jobs and deadlines become predictable."""
    release = threading.Event()
    original = svc.engine.run

    def slow(*args, **kwargs):
        release.wait(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(svc.engine, "run", slow)
    return release


def test_past_its_deadline_a_request_becomes_a_job_to_poll(service, monkeypatch) -> None:
    client, ids = service
    _slowed(monkeypatch, client.app.state.service, 1.0)
    late = _explain(client, model=ids["image"], inputs=_images(1, seed=7), method="occlusion", deadline_s=0.1)
    assert "poll GET /jobs/" in _error(late, 504)
    job = _wait(client, late.json()["job"])
    assert job["status"] == "done" and job["result"]["method"] == "occlusion" and job["result"]["cached"] == [False]


def test_a_job_runs_reports_progress_and_its_result(service) -> None:
    client, ids = service
    body = {"model": ids["text"], "inputs": ["a great film"] * 5 + ["boring plot"], "method": "lime_text",
            "params": {"num_samples": 40, "seed": 0}}
    accepted = client.post("/jobs", json=body, headers=AUTH)
    assert accepted.status_code == 202 and accepted.headers["location"] == f"/jobs/{accepted.json()['id']}"
    job = _wait(client, accepted.json()["id"])
    assert (job["status"], job["progress"], job["attempts"]) == ("done", 1.0, 1)
    assert len(job["result"]["explanations"]) == 6 and job["result"]["quality"][0]["seed"] == 0
    assert "POST /jobs returns" in _error(client.get("/jobs/unknown", headers=AUTH), 404)
    assert "ceiling" in _error(client.post("/jobs", json={**body, "params": {"num_samples": 10**6}}, headers=AUTH), 422)


def test_an_audit_job_returns_its_table_and_a_bad_one_fails_at_submission(service) -> None:
    client, ids = service
    body = {"kind": "audit", "model": ids["image"], "inputs": _images(4, seed=30), "labels": [0, 1, 2, 0],
            "methods": ["gradcam", "saliency"], "metrics": ["deletion"], "top_k": 2}
    accepted = client.post("/jobs", json=body, headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    job = _wait(client, accepted.json()["id"])
    assert (job["status"], job["kind"], job["progress"]) == ("done", "audit", 1.0), job["error"]
    table = job["result"]["rows"]
    assert len(table) == 8 and {r["method"] for r in table} == {"gradcam", "saliency"}
    assert all("deletion_gain" in r and len(r["top_features"]) == 2 for r in table)
    assert "Unknown metrics ['beauty']" in _error(client.post("/jobs", json={**body, "metrics": ["beauty"]}, headers=AUTH), 422)
    assert "Methods for this model" in _error(client.post("/jobs", json={**body, "methods": ["lime_text"]}, headers=AUTH), 422)
    unknown = {**body, "params": {"saliency": {"samples": 10}}}
    assert "it accepts:" in _error(client.post("/jobs", json=unknown, headers=AUTH), 422)


@pytest.mark.parametrize("kind", ["html", "pdf"])
def test_a_report_job_writes_a_document_to_download_and_a_bad_one_fails_at_submission(service, kind: str) -> None:
    import hashlib

    client, ids = service
    body = {"kind": "report", "model": ids["image"], "inputs": _images(2, seed=40), "labels": [0, 2],
            "methods": ["gradcam", "saliency"], "format": kind, "title": "Two <b>images</b>"}
    accepted = client.post("/jobs", json=body, headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    job = _wait(client, accepted.json()["id"])
    assert (job["status"], job["kind"]) == ("done", "report"), job["error"]
    download = client.get(job["result"]["download"], headers=AUTH)
    assert download.status_code == 200 and download.headers["content-type"].startswith({"html": "text/html", "pdf": "application/pdf"}[kind])
    assert hashlib.sha256(download.content).hexdigest() == job["result"]["sha256"]
    if kind == "html":
        assert "Two &lt;b&gt;images&lt;/b&gt;" in download.text and "gradcam" in download.text.lower()
    else:
        assert download.content.startswith(b"%PDF")
    assert client.get(job["result"]["download"]).status_code == 401
    assert "Methods for this model" in _error(client.post("/jobs", json={**body, "methods": ["lime_text"]}, headers=AUTH), 422)
    assert _error(client.post("/jobs", json={**body, "format": "docx"}, headers=AUTH), 422)


def test_a_job_that_is_no_report_has_nothing_to_download(service) -> None:
    client, ids = service
    job = client.post("/jobs", json={"model": ids["image"], "inputs": _images(1, seed=41), "method": "saliency"},
                      headers=AUTH).json()
    _wait(client, job["id"])
    assert "no report" in client.get(f"/jobs/{job['id']}/report", headers=AUTH).text


def test_cancel_a_queued_job_never_runs_and_a_running_one_loses_its_result(service, monkeypatch) -> None:
    client, ids = service
    release = _slowed(monkeypatch, client.app.state.service, 10.0)
    body = {"model": ids["image"], "inputs": _images(1, seed=11), "method": "saliency"}
    running = client.post("/jobs", json=body, headers=AUTH).json()["id"]
    queued = client.post("/jobs", json={**body, "inputs": _images(1, seed=12)}, headers=AUTH).json()["id"]
    _wait(client, running, until=("running",))
    assert client.delete(f"/jobs/{queued}", headers=AUTH).json()["status"] == "cancelled"
    assert client.delete(f"/jobs/{running}", headers=AUTH).json()["status"] == "cancelled"
    release.set()
    time.sleep(0.5)
    first, second = (client.get(f"/jobs/{j}", headers=AUTH).json() for j in (running, queued))
    assert first["status"] == "cancelled" and first["result"] is None
    assert second["status"] == "cancelled" and second["started"] is None and second["attempts"] == 0
    assert client.delete(f"/jobs/{running}", headers=AUTH).json()["status"] == "cancelled"  # idempotent


def test_a_full_queue_answers_429_with_retry_after(tmp_path: Path, saved) -> None:
    app = create_app(_settings(tmp_path, queue_limit=2))
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.service.pool.stop()  # nothing is claimed: the queue only fills
        model = _upload(client, saved["tabular"]).json()["id"]
        body = {"model": model, "inputs": [[0.0, 1.0, 2.0, 3.0]], "method": "saliency"}
        assert [client.post("/jobs", json=body, headers=AUTH).status_code for _ in range(2)] == [202, 202]
        full = client.post("/jobs", json=body, headers=AUTH)
        assert "2 jobs are already waiting" in _error(full, 429) and int(full.headers["retry-after"]) >= 1
        assert client.get("/health").json()["queued_jobs"] == 2


def test_jobs_left_running_by_a_dead_process_are_requeued_once_then_failed(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite")
    first, second, alive = (jobs.submit("explain", {"n": i}) for i in range(3))
    dead = "%s:999999999:deadbeef" % __import__("socket").gethostname()
    jobs._run("UPDATE jobs SET status = 'running', attempts = 1, owner = ? WHERE id = ?", (dead, first))
    jobs._run("UPDATE jobs SET status = 'running', attempts = 2, owner = ? WHERE id = ?", (dead, second))
    jobs._run("UPDATE jobs SET status = 'running', attempts = 1, owner = 'elsewhere:1:abc' WHERE id = ?", (alive,))
    assert jobs.recover(max_attempts=2) == (1, 1)
    assert jobs.status(first) == "queued" and jobs.claim() == (first, {"n": 0})
    failed = jobs.get(second)
    assert failed is not None and failed["status"] == "failed" and "not retried again" in failed["error"]["detail"]
    assert jobs.status(alive) == "running"  # another host's process is not presumed dead


# ---- batching ---------------------------------------------------------------------------------------
def test_concurrent_gradient_requests_share_one_engine_call(service, monkeypatch: pytest.MonkeyPatch) -> None:
    client, ids = service
    svc = client.app.state.service
    monkeypatch.setattr(svc.batcher, "window", 0.25)  # the default 5 ms can pass between two requests on a busy machine
    bodies = [ExplainRequest(model=ids["image"], inputs=_images(1, seed=100 + i), method="saliency") for i in range(4)]
    before = (svc.batcher.batches, svc.batcher.batched_requests)

    async def together() -> list[dict]:
        return await asyncio.gather(*(svc.explain(b) for b in bodies))

    replies = asyncio.run(together())
    assert (svc.batcher.batches - before[0], svc.batcher.batched_requests - before[1]) == (1, 4)
    model = svc.models.predictor(ids["image"])
    for body, reply in zip(bodies, replies):
        alone = explain.explain(model, np.asarray(body.inputs[0], dtype=np.float32), "saliency")
        assert np.allclose(Explanation.from_dict(reply["explanations"][0]).attributions, alone.attributions, atol=1e-6)


# ---- the Python client -----------------------------------------------------------------------------
def test_the_client_uploads_explains_and_waits_for_jobs(service, saved) -> None:
    client, ids = service
    remote = Client("http://testserver", TOKEN)
    remote.http = client  # the test client is an httpx.Client: same calls, no socket
    client.headers.update(AUTH)
    try:
        assert remote.upload_model(saved["tabular"]) == ids["tabular"]
        rows = z.tabular_data(2, seed=9)
        explanations = remote.explain(ids["tabular"], rows, "gradient_x_input")
        assert np.allclose(explanations[1].attributions, z.LINEAR_WEIGHTS * rows[1], atol=1e-5)
        job = remote.submit(ids["tabular"], rows, "saliency")
        assert np.allclose(remote.wait(job, timeout=30, poll=0.05)[0].attributions, np.abs(z.LINEAR_WEIGHTS), atol=1e-5)
        with pytest.raises(ClientError, match="Unknown method") as info:
            remote.explain(ids["tabular"], rows, "nope")
        assert info.value.status == 422
        assert json.loads(json.dumps(remote.model(ids["tabular"])))["modality"] == "tabular"
    finally:
        for name in AUTH:
            client.headers.pop(name, None)


# ---- a Dask cluster --------------------------------------------------------------------------------
def test_jobs_run_on_the_dask_cluster_when_a_scheduler_is_configured(tmp_path: Path, saved) -> None:
    import distributed

    from explain.audit import cluster as remote

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as dask:
        app = create_app(_settings(tmp_path, scheduler=dask.scheduler_address))
        with TestClient(app, raise_server_exceptions=False) as client:
            model = _upload(client, saved["tabular"]).json()["id"]
            fingerprint = client.get(f"/models/{model}", headers=AUTH).json()["fingerprint"]
            remote._WORKER_PREDICTORS.pop(fingerprint, None)
            rows = z.tabular_data(3, seed=21).tolist()
            job = client.post("/jobs", json={"model": model, "inputs": rows, "method": "gradient_x_input"}, headers=AUTH)
            done = _wait(client, job.json()["id"])
    assert done["status"] == "done", done["error"]
    assert fingerprint in remote._WORKER_PREDICTORS  # the (in-process) worker loaded the model and explained
    first = Explanation.from_dict(done["result"]["explanations"][0])
    assert np.allclose(first.attributions, z.LINEAR_WEIGHTS * np.asarray(rows[0]), atol=1e-5)
