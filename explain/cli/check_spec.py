"""The ``explain check`` spec: read as safe YAML and validated whole, before any model loads."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .inputs import parse_indices

MAX_SPEC_BYTES = 1 << 20
SPEC_EXAMPLE = "see `explain check --help` or the README's 'Checks in CI'"
TOP_FIELDS = {"model": "a reference model name or a .keras file", "inputs": "{split: test, limit: 50} or a file",
              "class_names": "a list of class names", "store": "true or a store path", "checks": "a list of checks",
              "truncate": "true/false: explain the part of long texts the model reads (default true)"}
COMMON_FIELDS = ("name", "kind", "targets", "pass_rate")
KIND_FIELDS: dict[str, dict[str, bool]] = {  # field -> required
    "mass_inside": {"method": True, "region": True, "at_least": True, "by": False, "params": False},
    "never_in_top_k": {"method": True, "features": True, "k": True, "params": False},
    "methods_agree": {"methods": True, "at_least": True, "metric": False, "k": False, "params": False},
    "faithful": {"method": True, "at_least": False, "params": False, "options": False},
}
REGION_KINDS = ("box", "mask", "bounding_box", "tokens", "features")
INPUT_FIELDS = ("split", "file", "limit", "indices")

class SpecError(ValueError):
    """A spec that cannot run; the message names the field and what to write instead."""


@dataclass
class Check:
    """One validated check of the spec, ready to run."""

    name: str
    kind: str
    fields: dict[str, Any]
    targets: Any = None  # None (predicted), "label" or an int
    pass_rate: float = 1.0


@dataclass
class Spec:
    model: str
    checks: list[Check]
    split: str = "test"
    file: str | None = None
    limit: int | None = None
    indices: Any = None
    class_names: list[str] | None = None
    store: Any = None
    truncate: bool = True
    source: Path = field(default_factory=Path)


# ---- reading and validating the spec ------------------------------------------------------------
def load_yaml(path: Path) -> Any:
    """``yaml.safe_load`` that also refuses anchors and aliases (no billion-laughs documents) and big files."""
    import yaml

    class _NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise SpecError(f"{path}: line {mark.line + 1}: YAML aliases (*name) are not allowed in a check spec; "
                                "write the value out.")
            event = self.peek_event()
            if getattr(event, "anchor", None):
                raise SpecError(f"{path}: line {event.start_mark.line + 1}: YAML anchors (&name) are not allowed in a "
                                "check spec; write the value out.")
            return super().compose_node(parent, index)

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such spec file.")
    if not path.is_file():
        raise SpecError(f"{path} is not a file; give the YAML spec file.")
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"{path} is {path.stat().st_size:,} bytes; a check spec may have at most {MAX_SPEC_BYTES:,}.")
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not UTF-8 text; save the spec as UTF-8 YAML.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, yaml.constructor.ConstructorError):  # e.g. !!python/object: never constructed
            raise SpecError(f"{path}: not valid YAML for a check spec ({where}{problem}); only plain values are read, "
                            "remove the tag.") from None
        raise SpecError(f"{path}: not valid YAML ({where}{problem}); fix the syntax (indentation, colons, brackets).") from None


def read_spec(name: str) -> Spec:
    """The validated spec: every field is checked (kinds, methods, thresholds, files) before anything loads."""
    import models

    from explain import testing

    path = Path(name)
    data = load_yaml(path)
    base = path.parent
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping with model, inputs and checks; {SPEC_EXAMPLE}.")
    _known(data, TOP_FIELDS, str(path))
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        raise SpecError(f"{path}: model: give a reference model name ({', '.join(models.names())}) or a .keras file.")
    if model not in models.names():
        if not model.endswith(".keras"):
            raise SpecError(f"{path}: model: {model!r} is neither a reference model ({', '.join(models.names())}) "
                            "nor a .keras file.")
        model = _file(base, model, "model")
    spec = Spec(model=model, checks=[], source=path)
    _read_inputs(spec, data.get("inputs"), base, is_reference=model in models.names())
    if "class_names" in data:
        names = data["class_names"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SpecError(f"{path}: class_names: a list of strings (quote names YAML reads otherwise, e.g. 'no').")
        spec.class_names = names
    store = data.get("store")
    if store is not None and not isinstance(store, (bool, str)):
        raise SpecError(f"{path}: store: true, false or a path, got {store!r}.")
    spec.store = str(base / store) if isinstance(store, str) else (store or None)
    truncate = data.get("truncate", True)
    if not isinstance(truncate, bool):
        raise SpecError(f"{path}: truncate: true or false, got {truncate!r}.")
    spec.truncate = truncate
    checks = data.get("checks")
    if not isinstance(checks, list) or not checks:
        raise SpecError(f"{path}: checks: give a non-empty list of checks, each with a kind ({', '.join(KIND_FIELDS)}).")
    for n, raw in enumerate(checks):
        spec.checks.append(_read_check(raw, n, base, testing))
    seen = [c.name for c in spec.checks]
    doubled = sorted({s for s in seen if seen.count(s) > 1})
    if doubled:
        raise SpecError(f"{path}: two checks are named {doubled[0]!r}; give each a different name.")
    return spec


def _known(data: Mapping[str, Any], allowed: Mapping[str, Any] | tuple[str, ...], where: str) -> None:
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        raise SpecError(f"{where}: unknown field {unknown[0]!r}; the fields are {', '.join(allowed)}.")


def _file(base: Path, name: Any, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise SpecError(f"{what}: give a file path, got {name!r}.")
    path = base / name
    if not path.is_file():
        raise FileNotFoundError(f"{what}: {path}: no such file.")
    return str(path)


def _read_inputs(spec: Spec, inputs: Any, base: Path, *, is_reference: bool) -> None:
    if inputs is None:
        if not is_reference:
            raise SpecError(f"inputs: {spec.model} is a .keras file; give its inputs, e.g. inputs: {{file: rows.csv}}.")
        return
    if isinstance(inputs, str):
        inputs = {"file": inputs}
    if not isinstance(inputs, dict):
        raise SpecError(f"inputs: a file path or a mapping such as {{split: test, limit: 50}}, got {inputs!r}.")
    _known(inputs, INPUT_FIELDS, "inputs")
    if "file" in inputs:
        if "split" in inputs:
            raise SpecError("inputs: give split or file, not both.")
        spec.file = _file(base, inputs["file"], "inputs.file")
    elif not is_reference:
        raise SpecError(f"inputs: {spec.model} is a .keras file; give inputs.file (a reference model's split is not its data).")
    split = inputs.get("split", "test")
    if split not in ("test", "train"):
        raise SpecError(f"inputs.split: test or train, got {split!r}.")
    spec.split = split
    limit = inputs.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise SpecError(f"inputs.limit: a whole number of at least 1, got {limit!r}.")
    spec.limit = limit
    indices = inputs.get("indices")
    if indices is not None:
        if isinstance(indices, int) and not isinstance(indices, bool):
            indices = [indices]
        ok = isinstance(indices, str) or (isinstance(indices, list) and indices
                                          and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices))
        if not ok:
            raise SpecError(f"inputs.indices: a range such as '0-49' or a list of indices, got {indices!r}.")
        if isinstance(indices, str):
            parse_indices(indices, 1 << 62)  # the syntax now; the range once the inputs are known
        spec.indices = indices


def _read_check(raw: Any, n: int, base: Path, testing: Any) -> Check:
    import explain

    where = f"checks[{n}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: each check is a mapping with kind, method and a threshold, got {raw!r}.")
    name = raw.get("name", f"check {n + 1}")
    if not isinstance(name, str):
        raise SpecError(f"{where}: name: a string, got {name!r}.")
    where = f"{where} ({name})"
    kind = raw.get("kind")
    if kind not in KIND_FIELDS:
        raise SpecError(f"{where}: kind: {'missing' if kind is None else f'unknown kind {kind!r}'}; use one of "
                        f"{', '.join(KIND_FIELDS)}.")
    allowed = KIND_FIELDS[kind]
    _known(raw, (*COMMON_FIELDS, *allowed), where)
    missing = [f for f, required in allowed.items() if required and f not in raw]
    if missing:
        raise SpecError(f"{where}: {kind} needs {', '.join(missing)}.")
    fields = {f: raw[f] for f in allowed if f in raw}
    methods = fields["methods"] if kind == "methods_agree" else [fields["method"]]
    if kind == "methods_agree" and (not isinstance(methods, list) or len(methods) != 2 or methods[0] == methods[1]):
        raise SpecError(f"{where}: methods: a list of two different methods, e.g. [gradcam, lime_image], got {methods!r}.")
    for method in methods:
        try:
            explain.get_method(method)
        except ValueError as exc:
            raise SpecError(f"{where}: {exc}") from None
    params = fields.get("params", {})
    if not isinstance(params, dict):
        raise SpecError(f"{where}: params: a mapping of method parameters, e.g. {{num_samples: 500}}, got {params!r}.")
    if kind == "methods_agree":
        stray = [k for k in params if k not in methods]
        if stray or not all(isinstance(v, dict) for v in params.values()):
            raise SpecError(f"{where}: params: one mapping per method, e.g. {{{methods[1]}: {{seed: 0}}}}; "
                            f"{stray[0] + ' is not one of the methods' if stray else 'each value must be a mapping'}.")
    if "at_least" in fields:
        fields["at_least"] = _at_least(fields["at_least"], kind, where, testing)
    if "by" in fields and fields["by"] not in ("positive", "abs"):
        raise SpecError(f"{where}: by: positive or abs, got {fields['by']!r}.")
    if "metric" in fields and fields["metric"] not in testing.AGREEMENT_METRICS:
        raise SpecError(f"{where}: metric: one of {', '.join(testing.AGREEMENT_METRICS)}, got {fields['metric']!r}.")
    if "k" in fields and (not isinstance(fields["k"], int) or isinstance(fields["k"], bool) or fields["k"] < 1):
        raise SpecError(f"{where}: k: a whole number of at least 1, got {fields['k']!r}.")
    if "features" in fields:
        features = fields["features"]
        features = [features] if isinstance(features, (str, int)) else features
        if not isinstance(features, list) or not features or not all(isinstance(f, (str, int)) for f in features):
            raise SpecError(f"{where}: features: a list of feature names or tokens, got {fields['features']!r}.")
        fields["features"] = features
    if "options" in fields and not isinstance(fields["options"], dict):
        raise SpecError(f"{where}: options: a mapping of badge options, got {fields['options']!r}.")
    if "region" in fields:
        fields["region"] = _region(fields["region"], base, where, testing)
    targets, pass_rate = _targets_and_pass_rate(raw, where)
    return Check(name=name, kind=kind, fields=fields, targets=targets, pass_rate=pass_rate)


def _targets_and_pass_rate(raw: Mapping[str, Any], where: str) -> tuple[Any, float]:
    targets = raw.get("targets", "predicted")
    if not (targets in ("predicted", "label") or (isinstance(targets, int) and not isinstance(targets, bool) and targets >= 0)):
        raise SpecError(f"{where}: targets: predicted, label or a class index, got {targets!r}.")
    pass_rate = raw.get("pass_rate", 1.0)
    if isinstance(pass_rate, bool) or not isinstance(pass_rate, (int, float)) or not 0 <= pass_rate <= 1:
        raise SpecError(f"{where}: pass_rate: a share between 0 and 1 (e.g. 0.9), got {pass_rate!r}.")
    return (None if targets == "predicted" else targets), float(pass_rate)


def _at_least(value: Any, kind: str, where: str, testing: Any) -> Any:
    if kind == "faithful":
        levels = testing.faithful_levels()
        if value not in levels:
            raise SpecError(f"{where}: at_least: one of {', '.join(map(repr, levels))}, got {value!r}.")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1 <= value <= 1:
        raise SpecError(f"{where}: at_least: a number between 0 and 1 (a share; correlations may be down to -1), "
                        f"got {value!r}.")
    return float(value)


def _region(region: Any, base: Path, where: str, testing: Any) -> Any:
    """A spec region as what :func:`explain.testing.check_mass_inside` takes."""
    usage = ("region: one of {box: [top, left, bottom, right]}, {mask: mask.npy}, {bounding_box: {above: 0, margin: 0}}, "
             "{tokens: [...]} or {features: [...]}")
    if not isinstance(region, dict) or len(region) != 1 or next(iter(region)) not in REGION_KINDS:
        raise SpecError(f"{where}: {usage}; got {region!r}.")
    (kind, value), = region.items()
    if kind == "box":
        if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise SpecError(f"{where}: region.box: four whole numbers [top, left, bottom, right], got {value!r}.")
        if value[2] <= value[0] or value[3] <= value[1]:
            raise SpecError(f"{where}: region.box {value} is empty; bottom and right are exclusive, as in slicing.")
        return tuple(value)
    if kind == "mask":
        import numpy as np

        path = _file(base, value, f"{where}: region.mask")
        try:
            mask = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            raise SpecError(f"{where}: region.mask {path} is not a .npy array of booleans; save one with numpy.save.") from None
        if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
            raise SpecError(f"{where}: region.mask {path} must hold booleans (or 0/1).")
        return mask.astype(bool)
    if kind == "bounding_box":
        options = {} if value in (None, True) else value
        if not isinstance(options, dict):
            raise SpecError(f"{where}: region.bounding_box: a mapping such as {{above: 0, margin: 1}}, got {value!r}.")
        _known(options, ("above", "margin"), f"{where}: region.bounding_box")
        above, margin = options.get("above", 0), options.get("margin", 0)
        if isinstance(above, bool) or not isinstance(above, (int, float)):
            raise SpecError(f"{where}: region.bounding_box.above: a pixel value, got {above!r}.")
        if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
            raise SpecError(f"{where}: region.bounding_box.margin: a whole number of pixels, got {margin!r}.")
        return testing.bounding_box(above=float(above), margin=margin)
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, (str, int)) for v in value):
        raise SpecError(f"{where}: region.{kind}: a list of {kind}, got {value!r}.")
    return set(value)
