"""Any model a user brings -> its :class:`~explain.predictor.Predictor`, built once and reused."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .predictor import Predictor

_RECENT: "OrderedDict[int, tuple[Any, Predictor]]" = OrderedDict()
RECENT_MODELS = 8  # predictors kept for reuse; a bounded cache pins at most this many models


def as_predictor(model: Any, **options: Any) -> Predictor:
    """The :class:`Predictor` for a model, reused across calls so compiled functions are built once.

    Kept in a small least-recently-used cache by identity rather than written
    onto the user's model object (a weak-keyed cache cannot work here: the
    predictor holds the model, so its key would never be freed).
    """
    if isinstance(model, Predictor):
        return model
    if options:
        return Predictor(model, **options)
    entry = _RECENT.get(id(model))
    if entry is not None and entry[0] is model:
        _RECENT.move_to_end(id(model))
        return entry[1]
    predictor = Predictor(model)
    _RECENT[id(model)] = (model, predictor)  # the model is held, so its id cannot be reused while cached
    while len(_RECENT) > RECENT_MODELS:
        _RECENT.popitem(last=False)
    return predictor
