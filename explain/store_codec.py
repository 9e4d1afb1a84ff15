"""How the explanation store packs one Explanation document into a row, losslessly and compactly.

Most of a stored document is the same in every row of a batch: the dictionary keys (``meta``'s, the
scores', each array's), the method's parameters, the model's description, the library versions, the
feature names.  A row therefore keeps only what is its own:

- the document is flattened into its *skeleton* (the path and kind of every leaf, in document order)
  and the list of leaf values; the skeleton is shared, stored once in the ``provenance`` table;
- the leaves at :data:`SHARED` (parameters, model, versions, feature names, ...) are stored once there
  too, and the row holds their ids (a text explanation's labels, its own tokens, stay in the row);
- what a text explanation repeats is derived instead of stored, only when exactly derivable (checked
  when packing): ``labels`` equal to the tokens in ``data``, ``meta.text`` equal to the tokens joined
  by spaces, and the tokens themselves as one space-joined string when splitting it gives them back;
- numeric arrays keep the bytes :func:`explain.arrays.encode_bytes` gives (format 2, already compressed)
  without their base64; the rest (the values) is one JSON list, deflated at level 1.

A row migrated from schema 1 is its JSON document as it was (format-1 arrays stay base64 text, nothing is
re-encoded), so it reads back exactly as written.  Unpacking rebuilds the document with its keys in their
original order.
"""
from __future__ import annotations

import dataclasses
import json
import math
import struct
import zlib
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import arrays

if TYPE_CHECKING:
    from .explanation import Explanation

MAGIC = b"\x02"  # the first byte of a packed body (a format-1 row is JSON text, never bytes)
LEVEL = 1  # measured: level 6 makes bodies 1-3 % smaller and packing about twice as slow
MAX_BODY = 1 << 30  # a damaged or hostile body never inflates beyond this

# Leaves stored once in the provenance table: the same in (nearly) every row of a model and method.
SHARED = (("params",), ("meta", "model"), ("meta", "library_versions"), ("meta", "explained_output"),
          ("labels",))
_FLATTEN_DEPTH = 3  # dicts deeper than this are one leaf: per-row keys there must not mint a skeleton a row

# Leaf kinds in a skeleton
VALUE, REF, SPLIT, SAME_AS_DATA, JOINED_DATA, ARRAY = "v", "r", "s", "=", "j", "a"
_DERIVED = (SAME_AS_DATA, JOINED_DATA)

Intern = Callable[[str], int]  # a JSON text -> its provenance id (stored if new)
Lookup = Callable[[int], Any]  # a provenance id -> its decoded JSON value


def document(explanation: "Explanation") -> dict[str, Any]:
    """``explanation.to_dict()`` with its numeric arrays left as arrays (:func:`pack` keeps their bytes without
    base64), in a quarter of the time: the plain types that make up nearly all of a document are converted here,
    anything else (numpy scalars, other mappings, object arrays) by the reference conversion itself."""
    from .explanation import FORMAT_VERSION

    return {"format": FORMAT_VERSION,
            **{f.name: _jsonable(getattr(explanation, f.name)) for f in dataclasses.fields(explanation)}}


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if kind is dict:
        return {str(k): _jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_jsonable(v) for v in value]
    if kind is np.ndarray and value.dtype.kind in "biufc":
        return value
    from .explanation import _to_jsonable

    return _to_jsonable(value)


def pack(doc: dict[str, Any], intern: Intern) -> bytes:
    """The body of one row for a document (:func:`document`, or a JSON one read from a schema-1 row).

    Layout: MAGIC, the length of the head (4 bytes, little-endian), the head (the deflated JSON of the
    skeleton's id and the leaf values), then the bytes of the arrays, in skeleton order, as
    :func:`explain.arrays.encode_bytes` gives them (already compressed: not deflated again).
    """
    derived = _derivable(doc)
    shared = _shared_paths(doc)
    skeleton: list[list[Any]] = []
    values: list[Any] = []
    payloads: list[bytes] = []

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        for name, value in node.items():
            here = path + (name,)
            if here in derived:
                skeleton.append([*here, derived[here]])
                if derived[here] == SPLIT:
                    values.append(" ".join(value))
            elif here in shared and value is not None:
                skeleton.append([*here, REF])
                values.append(intern(_dumps(value)))
            elif isinstance(value, np.ndarray):
                head, payload = arrays.encode_bytes(value)
                skeleton.append([*here, ARRAY])
                values.append([head["__ndarray__"], head["dtype"], head["shape"], len(payload)])
                payloads.append(payload)
            elif isinstance(value, dict) and value and len(here) < _FLATTEN_DEPTH:
                walk(value, here)
            else:
                skeleton.append([*here, VALUE])
                values.append(value)

    walk(doc, ())
    head = zlib.compress(_dumps([intern(_dumps(skeleton)), values]).encode("utf-8"), LEVEL)
    return b"".join([MAGIC, struct.pack("<I", len(head)), head, *payloads])


def unpack(body: bytes, lookup: Lookup) -> dict[str, Any]:
    """The document :func:`pack` packed (arrays as arrays); ValueError for anything damaged (the store then
    recomputes the row)."""
    try:
        if body[:1] != MAGIC:
            raise ValueError(f"unknown row encoding {body[:1]!r}")
        (size,) = struct.unpack_from("<I", body, 1)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(body[5 : 5 + size], MAX_BODY)
        if inflater.unconsumed_tail or not inflater.eof:
            raise ValueError("the compressed row is truncated or too large")
        skeleton_id, values = json.loads(raw)
        return _rebuild(lookup(skeleton_id), values, memoryview(body)[5 + size :], lookup)
    except ValueError:
        raise
    except (zlib.error, struct.error, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"the packed row cannot be decoded ({type(exc).__name__}: {exc})") from None


def _rebuild(skeleton: list[list[Any]], values: list[Any], payloads: memoryview, lookup: Lookup) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    later: list[tuple[dict[str, Any], str, str]] = []
    taken = offset = 0
    for entry in skeleton:
        *path, kind = entry
        node = doc
        for name in path[:-1]:
            node = node.setdefault(name, {})
        if kind in _DERIVED:
            node[path[-1]] = None  # the place, so the key order is the original one; filled below
            later.append((node, path[-1], kind))
            continue
        value = values[taken]
        taken += 1
        if kind == REF:
            value = lookup(value)
        elif kind == ARRAY:
            encoding, dtype, shape, length = value
            if type(length) is not int or length < 0:  # a negative length would re-read earlier arrays' bytes
                raise ValueError(f"an array of {length!r} bytes")
            if offset + length > len(payloads):
                raise ValueError("the row's array bytes are truncated")
            value = arrays.decode_bytes({"__ndarray__": encoding, "dtype": dtype, "shape": shape},
                                        bytes(payloads[offset : offset + length]))
            offset += length
        elif kind == SPLIT:
            value = value.split(" ")
        elif kind != VALUE:
            raise ValueError(f"unknown leaf kind {kind!r}")
        node[path[-1]] = value
    if taken != len(values) or offset != len(payloads):
        raise ValueError(f"the row has {len(values)} values for {taken} places, {len(payloads) - offset} bytes left over")
    for node, name, kind in later:
        tokens = doc["data"]
        node[name] = list(tokens) if kind == SAME_AS_DATA else " ".join(tokens)
    return doc


def _shared_paths(doc: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    """The SHARED paths worth a provenance row in this document.  A text explanation's labels are its own tokens
    (when not derived from ``data``): shared, each would mint a provenance row, and a cache entry, per explanation."""
    if doc.get("modality") == "text":
        return tuple(p for p in SHARED if p != ("labels",))
    return SHARED


def _derivable(doc: dict[str, Any]) -> dict[tuple[str, ...], str]:
    """What a text document repeats, by path, each only where re-deriving gives exactly the stored value."""
    data = doc.get("data")
    if not (isinstance(data, list) and data and all(isinstance(t, str) for t in data)):
        return {}
    found: dict[tuple[str, ...], str] = {}
    joined = " ".join(data)
    if joined.split(" ") == data:
        found[("data",)] = SPLIT
    if doc.get("labels") == data:
        found[("labels",)] = SAME_AS_DATA
    meta = doc.get("meta")
    if isinstance(meta, dict) and meta.get("text") == joined:
        found[("meta", "text")] = JOINED_DATA
    return found


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_encoded)


def _encoded(value: Any) -> Any:
    """An array where JSON is needed (inside a shared part, a list, a deep dict): as Explanation.to_dict() has it."""
    if isinstance(value, np.ndarray):
        from .explanation import _encode_array

        return _encode_array(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
