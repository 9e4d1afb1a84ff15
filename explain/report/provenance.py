"""The report's appendix: everything a reader needs to reproduce it.

The model's fingerprint (and its card's file and data hashes), each input's
content hash (the key the explanation store uses), each method's parameters
with the call that repeats it, how the scores were computed and the library
versions of the explanations, the model's training and this report.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping

import numpy as np

from ..explanation import Explanation
from .content import Table


def input_digest(explanation: Explanation) -> str:
    """The input's content hash, the same one the explanation store keys it by (texts: their UTF-8 text)."""
    from ..provenance import array_hash, input_hash

    if explanation.modality == "text":
        tokens = explanation.labels if explanation.labels is not None else explanation.data
        return input_hash(str(explanation.meta.get("text") or " ".join(map(str, tokens))))
    return array_hash(np.asarray(explanation.data))


def provenance(items: list[Explanation], groups: list[list[Explanation]], card: Mapping[str, Any] | None,
               source: str | None, *, scored_here: int) -> tuple[Table, ...]:
    """The appendix's tables; ``groups`` are the inputs' explanations, ``scored_here`` how many the report scored."""
    tables = [_model_provenance(items, card)]
    if groups:
        rows = tuple((f"Input {i + 1}", g[0].modality, input_digest(g[0])) for i, g in enumerate(groups))
        tables.append(Table(("input", "kind", "content hash"), rows, title="Inputs", note=f"Source: {source}." if source else ""))
        tables.append(_method_provenance(items))
        tables.append(Table(("", ""), (("faithfulness", _scoring_text(items, scored_here)),), title="Scores"))
    tables.append(_versions_table(items, card))
    return tuple(tables)


def _model_provenance(items: list[Explanation], card: Mapping[str, Any] | None) -> Table:
    rows: list[tuple[str, str]] = []
    for described in _distinct(dict(e.meta.get("model") or {}) for e in items):
        rows += [("model", str(described.get("model"))), ("fingerprint", str(described.get("fingerprint"))),
                 ("input / output", f"{described.get('modality')} {described.get('input_shape')} -> {described.get('output')}")]
    if card:
        dataset, training = card.get("dataset") or {}, card.get("training") or {}
        model_file = card.get("model_file") or {}
        extra = [("model file", f"{model_file.get('name')} {model_file.get('sha256')}" if model_file else None),
                 ("data source", dataset.get("source")), ("data fingerprint", dataset.get("fingerprint")),
                 ("training seed", training.get("seed")), ("card created", card.get("created"))]
        rows += [(k, str(v)) for k, v in extra if v is not None]
    return Table(("", ""), tuple(rows), title="Model")


def _method_provenance(items: list[Explanation]) -> Table:
    rows = []
    for e in _distinct_by(items, key=lambda e: (e.method, _params_text(e.params))):
        call = f'explain.explain_batch(model, inputs, "{e.method}"' + "".join(f", {k}={v!r}" for k, v in e.params.items()) + ")"
        rows.append((e.method, _params_text(e.params) or "(none)", call))
    note = "Targets: the class each section says the explanations are for (by default the predicted class)."
    return Table(("method", "parameters (seed included)", "to reproduce"), tuple(rows), title="Methods", note=note)


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items())


def _scoring_text(items: list[Explanation], scored_here: int) -> str:
    if not any(e.scores for e in items):
        return "not scored (pass model=... to score the explanations)"
    where = f"{scored_here} of {len(items)} computed for this report" if scored_here else "as attached to the explanations"
    return (f"deletion AUC against random removal orders ({where}), with explain.metrics.score_explanations' defaults "
            "unless the explanations were scored otherwise: 20 steps for images and texts, every feature for tabular "
            "rows, 5 seeded random orders (seed 0); removed pixels set to 0, tokens masked, features set to the "
            "background mean." + (" Badge: deletion and ROAD most-relevant-first vote (ROAD least-relevant-first is "
            "shown), each against the same 5 random orders and an input-only map (explain.evaluation.baselines); "
            "ROAD removes at 10-90 % by noisy linear imputation (images) or the conditional mean (rows)."
            if any("badge_level" in e.scores for e in items) else ""))


def _versions_table(items: list[Explanation], card: Mapping[str, Any] | None) -> Table:
    from importlib import metadata

    from ..provenance import library_versions

    columns: dict[str, Mapping[str, Any]] = {}
    for versions in _distinct(dict(e.meta.get("library_versions") or {}) for e in items):
        columns["explanations" if not columns else f"explanations ({len(columns) + 1})"] = versions
    if card and card.get("library_versions"):
        columns["model training"] = card["library_versions"]
    try:
        own = metadata.version("keras-explain")
    except metadata.PackageNotFoundError:
        own = "not installed"
    columns["this report"] = {**library_versions(), "keras-explain": own}
    packages = list(dict.fromkeys(p for versions in columns.values() for p in versions))
    rows = tuple((p, *(str(v.get(p, "")) for v in columns.values())) for p in packages)
    return Table(("package", *columns), rows, title="Library versions")


def _distinct(dicts) -> list[dict]:
    return _distinct_by(list(dicts), key=lambda d: json.dumps(d, sort_keys=True, default=str))


def _distinct_by(values: list, key: Callable[[Any], Any]) -> list:
    seen: dict[Any, Any] = {}
    for value in values:
        seen.setdefault(key(value), value)
    return list(seen.values())
