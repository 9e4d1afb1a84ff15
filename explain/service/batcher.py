"""Concurrent requests for the same model and method share one engine call.

Gradient methods and the CAM family compute a whole batch in one forward and backward pass, so eight callers
asking at once cost little more than one.  The first request of a group waits ``window`` seconds for company
(or until ``batch_max`` inputs), then the group goes to the engine as one :class:`~explain.pipeline.Request`
and each caller gets its own part of the reply.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
from typing import Any

import numpy as np

from .. import pipeline
from ..provenance import canonical_json
from .engine import Engine, reply
from .schemas import ExplainRequest

# Methods whose attribute() vectorises over the batch (one pass for all inputs); others gain nothing.
BATCHABLE = frozenset({"gradcam", "gradcam_pp", "cam", "saliency", "gradient_x_input", "integrated_gradients",
                       "smoothgrad"})
Item = tuple[pipeline.Request, ExplainRequest, concurrent.futures.Future]


class MicroBatcher:
    """Groups requests by (model, method, parameters, options); call :meth:`submit` from the event loop."""

    def __init__(self, engine: Engine, executor: concurrent.futures.Executor, window: float, batch_max: int) -> None:
        self.engine, self.executor, self.window, self.batch_max = engine, executor, window, max(1, batch_max)
        self._groups: dict[tuple, list[Item]] = {}
        self._lock = threading.Lock()
        self.batches = 0  # engine calls made for batched groups
        self.batched_requests = 0  # requests those calls answered

    def submit(self, request: pipeline.Request, body: ExplainRequest) -> concurrent.futures.Future:
        if self.window <= 0 or request.method.name not in BATCHABLE:
            return self.executor.submit(self.engine.run, request, body)
        future: concurrent.futures.Future = concurrent.futures.Future()
        key = _group_key(request)
        with self._lock:
            group = self._groups.setdefault(key, [])
            group.append((request, body, future))
            first, full = len(group) == 1, sum(len(r.targets) for r, _, _ in group) >= self.batch_max
        if full:
            self._flush(key)
        elif first:
            asyncio.get_running_loop().call_later(self.window, self._flush, key)
        return future

    def _flush(self, key: tuple) -> None:
        with self._lock:
            items = self._groups.pop(key, None)
        if items:
            self.executor.submit(self._run, items)

    def _run(self, items: list[Item]) -> None:
        live = [item for item in items if item[2].set_running_or_notify_cancel()]
        if not live:
            return
        started = time.perf_counter()
        try:
            found, hits, digests = self.engine.explain(_merged([request for request, _, _ in live]))
        except BaseException as exc:
            for _, _, future in live:
                future.set_exception(exc)
            return
        self.batches += 1
        self.batched_requests += len(live)
        seconds = time.perf_counter() - started
        start = 0
        for request, body, future in live:
            end = start + len(request.targets)
            future.set_result(reply(body, found[start:end], digests[start:end], hits[start:end], seconds))
            start = end


def _group_key(request: pipeline.Request) -> tuple:
    return (id(request.predictor), request.method.name, canonical_json(request.method.params()), request.truncate,
            canonical_json(request.scores if isinstance(request.scores, bool) else sorted(request.scores)))


def _merged(requests: list[pipeline.Request]) -> pipeline.Request:
    first = requests[0]
    if len(requests) == 1:
        return first
    inputs: Any = ([x for r in requests for x in r.inputs] if first.is_text
                   else np.concatenate([np.asarray(r.inputs) for r in requests]))
    targets = tuple(t for r in requests for t in r.targets)
    return dataclasses.replace(first, inputs=inputs, targets=targets)
