"""Which users' requests are running now, so background work (the warm-up) can step aside on two cores."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

YIELD_SECONDS = 60.0  # the longest background work waits for quiet before it takes its next step anyway
background = threading.local()  # ``active`` is set in a background thread, whose own requests are not users'
_running = 0
_quiet = threading.Condition()


@contextmanager
def request_running() -> Iterator[None]:
    """Marks a user's request (the pipeline and the dashboard's badge wrap theirs in it)."""
    global _running
    if getattr(background, "active", False):
        yield
        return
    with _quiet:
        _running += 1
    try:
        yield
    finally:
        with _quiet:
            _running -= 1
            _quiet.notify_all()


def wait_for_quiet(timeout: float = YIELD_SECONDS) -> bool:
    """Block until no user's request runs (or ``timeout`` passes); True when it is quiet."""
    with _quiet:
        return _quiet.wait_for(lambda: _running == 0, timeout)
