"""Numeric arrays inside JSON, exactly and compactly.

An array's bytes are split into byte planes (the first byte of every element, then the second, ...) and
deflated: attributions and images vary smoothly, so their high bytes repeat and compress well; the low
bytes stay as they are, so nothing is rounded (the round trip is bit-exact).  Written as
``{"__ndarray__": "zshuffle", ...}``; the plain ``"b64"`` form of format 1 is still read, so old files and
stores load unchanged.  Small arrays stay plain (compressing 40 bytes adds more than it saves).
"""
from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

COMPRESS_FROM_BYTES = 256
LEVEL = 1  # measured on MNIST maps: 4 % larger than level 6, 2.4 times faster (0.08 ms per map)


def encode(array: np.ndarray) -> dict[str, Any]:
    head, payload = encode_bytes(array)
    return {**head, "data": base64.b64encode(payload).decode("ascii")}


def encode_bytes(array: np.ndarray) -> tuple[dict[str, Any], bytes]:
    """:func:`encode` before base64: its head (encoding, dtype, shape) and its bytes (the explanation store keeps
    these bytes as they are, a quarter smaller than their base64)."""
    array = np.ascontiguousarray(array)
    head = {"dtype": array.dtype.str, "shape": list(array.shape)}
    raw = array.tobytes()
    if len(raw) < COMPRESS_FROM_BYTES or array.dtype.itemsize == 0:
        return {"__ndarray__": "b64", **head}, raw
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(-1, array.dtype.itemsize).T.tobytes()
    return {"__ndarray__": "zshuffle", **head}, zlib.compress(planes, LEVEL)


def decode(value: dict[str, Any]) -> np.ndarray:
    """The array a :func:`encode` document describes; raises ValueError for anything else."""
    head = _head(value)  # checked before the data is even read
    return _decoded(value["__ndarray__"], *head, base64.b64decode(value["data"], validate=True))


def decode_bytes(value: dict[str, Any], data: bytes) -> np.ndarray:
    """The array of an :func:`encode_bytes` head and its bytes; raises ValueError for anything else."""
    return _decoded(value["__ndarray__"], *_head(value), data)


def _head(value: dict[str, Any]) -> tuple[np.dtype, tuple[int, ...]]:
    dtype = np.dtype(value["dtype"])
    if dtype.kind not in "biufc":  # raw bytes are only ever numbers: never objects or records
        raise ValueError(f"an encoded array must hold numbers, not dtype {dtype}")
    shape = tuple(int(n) for n in value["shape"])
    if any(n < 0 for n in shape):
        raise ValueError(f"an array cannot have shape {shape}")
    return dtype, shape


def _decoded(encoding: str, dtype: np.dtype, shape: tuple[int, ...], data: bytes) -> np.ndarray:
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if encoding == "zshuffle":
        inflater = zlib.decompressobj()
        planes = inflater.decompress(data, expected + 1)  # never more than the shape says: no inflation bomb
        if len(planes) != expected or inflater.unconsumed_tail:
            raise ValueError(f"the compressed data does not hold the {expected:,} bytes its shape {shape} declares")
        data = np.frombuffer(planes, dtype=np.uint8).reshape(dtype.itemsize, -1).T.tobytes()
    elif encoding != "b64":
        raise ValueError(f"unknown array encoding {encoding!r}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
