"""Where an audit's chunks run: in this process, or on a Dask cluster.

Workers get the model safely, never as pickled Keras objects: a reference model
by name and models directory (the one place the audit loads reference models),
a user's model as the bytes of a ``.keras`` file that each worker loads once,
checked and in safe mode.  Results come back as Explanation JSON; the caller
looks up and writes the store.  Local runs never import dask.
"""
from __future__ import annotations

import dataclasses
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .. import registry
from ..api import explain_batch
from ..explanation import Explanation
from ..loading import load_keras
from ..methods.base import Method
from ..pipeline import Request, compute_local
from ..predictor import Predictor
from ..provenance import library_versions


# ---- where chunks run ----------------------------------------------------------------------------------
class Local:
    """Chunks in this process, one after the other."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    @staticmethod
    def compute(request: Request) -> list[Explanation]:
        return compute_local(request)

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        return map(fn, jobs)

    def __enter__(self) -> "Local":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


class Cluster:
    """Chunks on a Dask cluster; this process looks up and writes the store, workers only explain."""

    def __init__(self, client: Any, model: Any, predictor: Predictor, models_dir: str | Path | None,
                 background: bool) -> None:
        self.source = _model_source(model, predictor, models_dir, background)
        self.client, self._owned = _dask_client(client)
        self._shipped: Any = None  # the source on the workers, sent with the first chunk that needs it
        self._lock = threading.Lock()
        try:
            self.in_flight = 2 * max(1, len(self.client.scheduler_info().get("workers", {})))
        except BaseException:
            self.close()
            raise

    def _on_workers(self) -> Any:
        with self._lock:
            if self._shipped is None:  # hash=False: a fresh key, never one an earlier audit is releasing
                self._shipped = self.client.scatter(self.source, broadcast=True, hash=False)
            return self._shipped

    def compute(self, request: Request) -> list[Explanation]:
        """The request's explanations, computed on a worker (which validates its inputs again, in its own process)."""
        name, params = _method_spec(request.method)
        targets = list(request.targets)
        future = self.client.submit(_remote_explain, self._on_workers(), request.raw_inputs(), name, params, targets,
                                    request.truncate, request.scores, pure=False)
        explanations = [Explanation.from_json(text) for text in future.result()]
        theirs = explanations[0].meta.get("library_versions") if explanations else None
        if theirs is not None and theirs != library_versions():
            raise ValueError(f"The Dask workers run other library versions ({theirs}) than this process "
                             f"({library_versions()}); install the same versions on both so results are reproducible.")
        return explanations

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        """Several chunks in flight at once (threads waiting on futures), results in job order."""
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix="audit")
        try:
            yield from pool.map(fn, jobs)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # on an error, queued chunks never start

    def close(self) -> None:
        self._shipped = None  # releases the model's bytes on the cluster
        if self._owned:
            self.client.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _dask_client(client: Any) -> tuple[Any, bool]:
    """``(client, owned)``: an existing Client, or a new one connected to a scheduler address."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - dask is an optional dependency
        raise ValueError("client= needs dask.distributed: pip install 'keras-explain[distributed]'.") from exc
    if isinstance(client, Client):
        return client, False
    if isinstance(client, str):
        try:
            return Client(client, timeout="20s"), True
        except OSError as exc:
            raise ValueError(f"Could not reach the Dask scheduler at {client!r} ({exc}); check the address.") from exc
    raise TypeError(f"client= takes a dask.distributed.Client or a scheduler address, got {type(client).__name__}.")


def _method_spec(explainer: Method) -> tuple[str, dict[str, Any]]:
    """A method as its registered name and parameters: workers rebuild it, nothing else crosses."""
    try:
        registered = registry.get(explainer.name) is type(explainer)
    except ValueError:
        registered = False
    if not registered:
        raise ValueError(f"Dask workers find methods by registered name, and {explainer.name!r} is not registered "
                         "(decorate its class with explain.register in a module the workers import), or audit locally.")
    return explainer.name, {f.name: getattr(explainer, f.name) for f in dataclasses.fields(explainer) if f.init}


# ---- what workers receive and do ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _ModelSource:
    """How a worker gets the model: a reference model by name, or a saved ``.keras`` file's bytes."""

    fingerprint: str
    reference: str | None = None
    models_dir: str | None = None
    keras_file: bytes | None = None
    options: dict[str, Any] = field(default_factory=dict)  # Predictor options, background rows included


def _model_source(model: Any, predictor: Predictor, models_dir: str | Path | None, background: bool) -> _ModelSource:
    """``background``: ship the predictor's reference rows, so workers need no data set."""
    import models
    from models.settings import models_dir as models_folder

    rows = predictor.background if background else None
    if isinstance(model, models.ReferenceModel):
        folder = models_folder(models_dir).resolve()
        return _ModelSource(predictor.fingerprint, reference=model.name, models_dir=str(folder),
                            options={} if rows is None else {"background": rows})
    if predictor.keras_model is None:
        raise ValueError("Dask workers can only load a Keras or reference model; a plain prediction function cannot be "
                         "sent to them safely. Audit it locally (client=None).")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        predictor.keras_model.save(path)
        data = path.read_bytes()
    options = dict(modality=predictor.modality, output=predictor.output, class_names=predictor.class_names,
                   feature_names=predictor.feature_names, input_shape=predictor.input_shape,
                   batch_size=predictor.batch_size, name=predictor.name, background=rows)
    return _ModelSource(predictor.fingerprint, keras_file=data, options=options)


_WORKER_PREDICTORS: dict[str, Predictor] = {}  # per worker process: each model is loaded once
_WORKER_LOCK = threading.Lock()


def _worker_predictor(source: _ModelSource) -> Predictor:
    with _WORKER_LOCK:
        if source.fingerprint not in _WORKER_PREDICTORS:
            _WORKER_PREDICTORS[source.fingerprint] = _load_source(source)
        return _WORKER_PREDICTORS[source.fingerprint]


def _load_source(source: _ModelSource) -> Predictor:
    if source.reference is not None:
        import models

        predictor = Predictor(models.load(source.reference, source.models_dir), **source.options)
        if predictor.fingerprint != source.fingerprint:
            raise ValueError(f"A Dask worker loaded a different {source.reference} from {source.models_dir} "
                             f"({predictor.fingerprint}, not {source.fingerprint}); give workers the same models directory.")
        return predictor
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(source.keras_file)
        model = load_keras(path)  # archive checked, safe mode: no lambdas, no pickles
    predictor = Predictor(model, **source.options)
    predictor.fingerprint = source.fingerprint  # the same weights as the client's model, whatever its origin
    return predictor


def _remote_explain(source: _ModelSource, inputs: Any, method: str, params: dict[str, Any], targets: Any,
                    truncate: bool, scores: bool | list[str]) -> list[str]:
    """Runs on a worker: explain one chunk's missing inputs, return Explanation JSON."""
    predictor = _worker_predictor(source)
    explanations = explain_batch(predictor, inputs, method, targets, truncate=truncate, scores=scores, **params)
    return [e.to_json() for e in explanations]
