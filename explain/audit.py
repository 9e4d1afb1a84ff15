"""Auditing a model over many inputs: one row per input and method, as a pandas DataFrame.

Nothing here explains anything itself: each chunk of inputs goes through
``explain_batch`` (with ``scores=``, i.e. :func:`explain.metrics.score_explanations`)
and each Explanation becomes a row.  Chunks keep memory bounded on 10,000 inputs,
and each chunk is saved to the :mod:`explain.store` as soon as it is done, so an
interrupted audit run again computes only what is missing.

Scale-out: given a ``dask.distributed`` Client (or a scheduler address), chunks
run on the cluster.  Workers get the model safely, never as pickled Keras
objects: a reference model by name and models directory, a user's model as the
bytes of a ``.keras`` file that each worker loads once in safe mode.  Results
come back as Explanation JSON and become the same rows as a local run.  Local
runs (the default) never import dask.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import registry
from .api import as_predictor, explain_batch, make_method
from .explanation import Explanation
from .inputs import as_batch
from .methods.base import Method
from .metrics import METRICS
from .predictor import Predictor
from .store import Compute, StoreLike, explain_stored, opened, per_input_targets, uses_background

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_CHUNK = 256
DEFAULT_METRICS = ("deletion",)
SCORE_COLUMNS = ("deletion_auc", "deletion_random_auc", "deletion_gain", "insertion_auc", "insertion_random_auc",
                 "insertion_gain")


# ---- the audit -------------------------------------------------------------------------------------
def audit(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    methods: str | Method | Sequence[str | Method],
    metrics: Sequence[str] = DEFAULT_METRICS,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    targets: Sequence[int | None] | int | None = None,
    top_k: int = 5,
    regions: int = 4,
    truncate: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    store: StoreLike = True,
    client: Any = None,
    models_dir: str | Path | None = None,
    progress: bool = True,
) -> "pd.DataFrame":
    """Explain every input of ``X`` with every method, score the explanations, and return one row each.

    Columns: ``input`` (position in ``X``), ``method``, ``target``/``target_name``
    (the class explained); ``predicted``, ``predicted_name``, ``probability`` and,
    with ``y``, ``label`` and ``correct`` (classifiers) or ``prediction`` and
    ``label``, ``error``, ``abs_error`` (regression); ``top_features`` /
    ``top_values`` (the ``top_k`` strongest tokens, features, or image regions of
    a ``regions`` x ``regions`` grid); the scores ``metrics`` asks for
    (``deletion_auc``, ``deletion_random_auc``, ``deletion_gain``...); ``seconds``
    (the method's runtime per input).

    ``params`` maps a method name to its parameters, e.g. ``{"lime_image":
    {"num_samples": 500}}``.  ``store``: an ExplanationStore, a path, ``True``
    (the default store) or ``None`` (no persistence, no resuming).  ``client``: a
    ``dask.distributed.Client`` or a scheduler address; ``models_dir`` tells
    workers where a reference model lives.
    """
    from tqdm.auto import tqdm

    predictor = as_predictor(model)
    explainers = _explainers(predictor, methods, params)
    X = _check_inputs(predictor, X)
    labels = _check_labels(predictor, y, len(X))
    per_input_targets(targets, len(X))  # a wrong number of targets fails now, not after hours
    target_list = None if targets is None or isinstance(targets, (int, np.integer)) else list(targets)
    scores = check_metrics(metrics)
    if chunk_size < 1 or top_k < 1 or regions < 1:
        raise ValueError(f"chunk_size, top_k and regions must be at least 1, got {chunk_size}, {top_k}, {regions}.")
    jobs = [(start, explainer) for start in range(0, len(X), chunk_size) for explainer in explainers]
    if client is None:
        runner: _Local | _Cluster = _Local(predictor)
    else:
        background = any(uses_background(predictor, e, scores) for e in explainers)
        runner = _Cluster(client, model, predictor, models_dir, background)
    keep = store is not None and store is not False
    rows: list[dict[str, Any]] = []
    with runner, (opened(store) if keep else contextlib.nullcontext()) as db, \
            tqdm(total=len(X) * len(explainers), unit="explanation", desc="audit", disable=not progress) as bar:

        def run(job: tuple[int, Method]) -> list[dict[str, Any]]:
            start, explainer = job
            stop = min(start + chunk_size, len(X))
            batch, _ = as_batch(predictor, X[start:stop], truncate=truncate)
            chosen = targets if target_list is None else target_list[start:stop]
            explanations = explain_stored(db, predictor, explainer, batch, chosen, truncate=truncate, scores=scores,
                                          compute=runner.compute(explainer, truncate, scores))
            return [_row(predictor, e, start + i, labels, top_k, regions) for i, e in enumerate(explanations)]

        for chunk_rows in runner.map(run, jobs):
            rows += chunk_rows
            bar.update(len(chunk_rows))
    return _frame(rows, [e.name for e in explainers])


def _frame(rows: list[dict[str, Any]], methods: list[str]) -> "pd.DataFrame":
    """The rows ordered by input, then by method in the order asked for (chunks may finish in any order)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    order = frame["method"].map({name: i for i, name in enumerate(methods)})
    return frame.assign(_order=order).sort_values(["input", "_order"], kind="stable").drop(columns="_order") \
        .reset_index(drop=True)


# ---- checks -----------------------------------------------------------------------------------------
def _explainers(predictor: Predictor, methods: Any, params: Mapping[str, Mapping[str, Any]] | None) -> list[Method]:
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    elif isinstance(methods, Method):
        methods = [methods]
    methods = list(methods or [])
    known = ", ".join(registry.available(predictor))
    if not methods:
        raise ValueError(f"No methods to audit: pass methods=[...], e.g. some of: {known}.")
    names = [m if isinstance(m, str) else m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"methods lists a method twice: {names}.")
    params = dict(params or {})
    stray = set(params) - set(names)
    if stray:
        raise ValueError(f"params names methods that are not audited: {sorted(stray)}; audited methods: {names}.")
    explainers = [make_method(m, **params.get(name, {})) for m, name in zip(methods, names)]
    for explainer in explainers:
        reason = explainer.applies_to(predictor)
        if reason is not None:
            raise ValueError(f"{reason}. Methods for this model: {known}.")
    return explainers


def _check_inputs(predictor: Predictor, X: Any) -> Any:
    """``X`` as a sliceable batch; each chunk is fully validated (NaN, tokens...) when it is explained."""
    if predictor.modality == "text":
        if isinstance(X, str):
            raise TypeError("X is one text; audit takes a list of texts (wrap it: [text]).")
        X = list(np.asarray(X, dtype=object).ravel()) if isinstance(X, np.ndarray) else list(X)
    else:
        X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise TypeError(f"X must be a numeric array, got dtype {X.dtype}.")
        expected = predictor.input_shape
        wanted = (len(expected) + 1) if expected is not None else (2 if predictor.modality == "tabular" else None)
        if (expected is not None and X.shape[1:] != tuple(expected)) or (wanted is not None and X.ndim != wanted):
            shape = f"(n, {', '.join(map(str, expected))})" if expected is not None else f"({wanted} dimensions)"
            raise ValueError(f"X must be a batch of inputs of shape {shape}; got shape {X.shape}. For one input, pass X[None].")
    if len(X) == 0:
        raise ValueError("X is empty: pass at least one input to audit.")
    return X


def _check_labels(predictor: Predictor, y: Any, n: int) -> np.ndarray | None:
    if y is None:
        return None
    labels = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if labels.ndim > 1 and labels.shape[1:] == (1,) * (labels.ndim - 1):
        labels = labels.reshape(len(labels))
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"y must hold one label per input: {n} labels, got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.number):
        raise TypeError(f"y must be numeric (class indices or target values), got dtype {labels.dtype}.")
    if predictor.n_classes is not None:
        if not np.all(np.mod(labels, 1) == 0) or labels.min() < 0 or labels.max() >= predictor.n_classes:
            raise ValueError(f"y must hold class indices 0 to {predictor.n_classes - 1} for this classifier; "
                             f"got values from {labels.min()} to {labels.max()}.")
        return labels.astype(int)
    return labels.astype(np.float64)


def check_metrics(metrics: Sequence[str]) -> bool | list[str]:
    """The ``scores=`` value for ``metrics``; the command line calls it to fail before loading any data."""
    wanted = [metrics] if isinstance(metrics, str) else list(metrics or [])
    unknown = [m for m in wanted if m not in METRICS]
    if unknown:
        raise ValueError(f"Unknown metrics {unknown}; known metrics: {', '.join(METRICS)}.")
    return sorted(set(wanted)) or False


# ---- one row per explanation ----------------------------------------------------------------------------
def _row(predictor: Predictor, e: Explanation, position: int, labels: np.ndarray | None, top_k: int,
         regions: int) -> dict[str, Any]:
    top = (_by_region(e, regions) if e.modality == "image" else e).top(top_k)
    return {
        "input": position, "method": e.method, "target": e.target, "target_name": e.target_name,
        **_outcome(predictor, np.asarray(e.prediction), None if labels is None else labels[position]),
        "top_features": [name for name, _ in top], "top_values": [value for _, value in top],
        **e.scores, "seconds": e.meta.get("seconds"),
    }


def _outcome(predictor: Predictor, prediction: np.ndarray, label: Any) -> dict[str, Any]:
    if predictor.output == "regression":
        value = float(prediction.ravel()[0])
        if label is None:
            return {"prediction": value}
        return {"prediction": value, "label": float(label), "error": value - float(label), "abs_error": abs(value - float(label))}
    predicted = predictor.default_target(prediction)
    outcome = {"predicted": predicted, "predicted_name": predictor.class_name(predicted),
               "probability": float(predictor.target_scores(prediction[None], predicted)[0])}
    if label is not None:
        outcome.update(label=int(label), correct=predicted == int(label))
    return outcome


def _by_region(e: Explanation, regions: int) -> Explanation:
    """The explanation on a coarse grid (mean attribution per cell), so methods can be compared by region."""
    attributions = np.asarray(e.attributions, dtype=np.float64)
    height, width = attributions.shape[:2]
    n = min(regions, height, width)
    rows, cols = (np.linspace(0, size, n + 1).round().astype(int) for size in (height, width))
    cells = [(r0, r1, c0, c1) for r0, r1 in itertools.pairwise(rows) for c0, c1 in itertools.pairwise(cols)]
    means = np.array([attributions[r0:r1, c0:c1].mean() for r0, r1, c0, c1 in cells]).reshape(n, n)
    names = tuple(f"rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1}" for r0, r1, c0, c1 in cells)
    return dataclasses.replace(e, attributions=means, labels=names, meta={})


# ---- where chunks run ----------------------------------------------------------------------------------
class _Local:
    """Chunks in this process, one after the other."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def compute(self, explainer: Method, truncate: bool, scores: bool | list[str]) -> Compute:
        return lambda inputs, targets: explain_batch(self.predictor, inputs, explainer, targets, truncate=truncate,
                                                     scores=scores)

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        return map(fn, jobs)

    def __enter__(self) -> "_Local":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


class _Cluster:
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

    def compute(self, explainer: Method, truncate: bool, scores: bool | list[str]) -> Compute:
        from models.provenance import library_versions

        name, params = _method_spec(explainer)

        def run(inputs: Any, targets: Any) -> list[Explanation]:
            future = self.client.submit(_remote_explain, self._on_workers(), inputs, name, params, targets, truncate,
                                        scores, pure=False)
            explanations = [Explanation.from_json(text) for text in future.result()]
            theirs = explanations[0].meta.get("library_versions") if explanations else None
            if theirs is not None and theirs != library_versions():
                raise ValueError(f"The Dask workers run other library versions ({theirs}) than this process "
                                 f"({library_versions()}); install the same versions on both so results are reproducible.")
            return explanations

        return run

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

    def __enter__(self) -> "_Cluster":
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
    from models.artifacts import load_keras

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(source.keras_file)
        model = load_keras(path)  # safe mode: no lambdas, no pickles
    predictor = Predictor(model, **source.options)
    predictor.fingerprint = source.fingerprint  # the same weights as the client's model, whatever its origin
    return predictor


def _remote_explain(source: _ModelSource, inputs: Any, method: str, params: dict[str, Any], targets: Any,
                    truncate: bool, scores: bool | list[str]) -> list[str]:
    """Runs on a worker: explain one chunk's missing inputs, return Explanation JSON."""
    predictor = _worker_predictor(source)
    explanations = explain_batch(predictor, inputs, method, targets, truncate=truncate, scores=scores, **params)
    return [e.to_json() for e in explanations]


# ---- summaries --------------------------------------------------------------------------------------------
def audit_summary(df: "pd.DataFrame", *, top: int = 10, buckets: int = 4) -> dict[str, "pd.DataFrame"]:
    """Named DataFrames that summarise an :func:`audit`:

    - ``by_class`` (classifiers: per true class, else per predicted class) or
      ``by_error`` (regression: per quantile bucket of absolute error, else of the
      prediction): counts, accuracy or error, mean faithfulness;
    - ``top_features``: per method, the features / tokens / regions most often in
      the top-k, with their mean attribution;
    - ``disagreement`` (two methods or more): per input, the mean and least
      overlap of the methods' top-k sets, least agreement first;
    - ``faithfulness`` (classifiers with labels): deletion scores for correct and
      wrong predictions, with standard errors.
    """
    import pandas as pd

    if df is None or len(df) == 0:
        raise ValueError("The audit is empty: nothing to summarise.")
    scores = [c for c in SCORE_COLUMNS if c in df.columns]
    means = {c: (c, "mean") for c in scores}
    out: dict[str, pd.DataFrame] = {}
    if "predicted" in df.columns:
        group = "label" if "label" in df.columns else "predicted"
        extra = {"accuracy": ("correct", "mean")} if "correct" in df.columns else {}
        out["by_class"] = df.groupby(["method", group], sort=True).agg(
            n=("input", "size"), **extra, probability=("probability", "mean"), **means).reset_index()
    else:
        column = "abs_error" if "abs_error" in df.columns else "prediction"
        per_input = df.drop_duplicates("input")[column]
        edges = np.unique(np.quantile(per_input, np.linspace(0, 1, buckets + 1)))
        bucket = pd.cut(df[column], edges, include_lowest=True) if len(edges) > 1 else pd.Series("all", index=df.index)
        extra = {"abs_error": ("abs_error", "mean")} if column == "abs_error" else {}
        out["by_error"] = df.assign(bucket=bucket).groupby(["method", "bucket"], observed=True, sort=True).agg(
            n=("input", "size"), **extra, prediction=("prediction", "mean"), **means).reset_index() \
            .rename(columns={"bucket": f"{column} bucket"})
    out["top_features"] = _top_features(df, top)
    if df["method"].nunique() > 1:
        out["disagreement"] = _disagreement(df)
    if "correct" in df.columns and scores:
        stats = {f"{c}_{s}": (c, s) for c in scores for s in ("mean", "sem")}
        out["faithfulness"] = df.groupby(["method", "correct"], sort=True).agg(n=("input", "size"), **stats).reset_index()
    return out


def _top_features(df: "pd.DataFrame", top: int) -> "pd.DataFrame":
    long = df[["method", "input", "top_features", "top_values"]].explode(["top_features", "top_values"])
    long = long.dropna(subset=["top_features"]).astype({"top_values": float})
    table = long.groupby(["method", "top_features"]).agg(
        count=("input", "nunique"), mean_value=("top_values", "mean"),
        mean_abs_value=("top_values", lambda v: float(np.mean(np.abs(v))))).reset_index()
    table["share"] = table["count"] / table["method"].map(df.groupby("method")["input"].nunique())
    table = table.rename(columns={"top_features": "feature"}).sort_values(["method", "count", "mean_abs_value"],
                                                                          ascending=[True, False, False])
    return table.groupby("method", sort=False).head(top).reset_index(drop=True)


def _disagreement(df: "pd.DataFrame") -> "pd.DataFrame":
    """Per input, overlap |A & B| / max(|A|, |B|) of each pair of methods' top-k sets."""
    import pandas as pd

    keep = [c for c in ("label", "predicted", "prediction") if c in df.columns]
    records = []
    for position, group in df.groupby("input", sort=True):
        sets = {m: set(f) for m, f in zip(group["method"], group["top_features"])}
        pairs = [len(a & b) / max(len(a), len(b), 1) for a, b in itertools.combinations(sets.values(), 2)]
        first = group.iloc[0]
        records.append({"input": position, **{c: first[c] for c in keep}, "agreement": float(np.mean(pairs)),
                        "min_agreement": float(np.min(pairs)),
                        **{f"top_{m}": sorted(s) for m, s in sets.items()}})
    return pd.DataFrame(records).sort_values(["agreement", "input"], kind="stable").reset_index(drop=True)
