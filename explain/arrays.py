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
    array = np.ascontiguousarray(array)
    head = {"dtype": array.dtype.str, "shape": list(array.shape)}
    raw = array.tobytes()
    if len(raw) < COMPRESS_FROM_BYTES or array.dtype.itemsize == 0:
        return {"__ndarray__": "b64", **head, "data": base64.b64encode(raw).decode("ascii")}
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(-1, array.dtype.itemsize).T.tobytes()
    return {"__ndarray__": "zshuffle", **head, "data": base64.b64encode(zlib.compress(planes, LEVEL)).decode("ascii")}


def decode(value: dict[str, Any]) -> np.ndarray:
    """The array a :func:`encode` document describes; raises ValueError for anything else."""
    dtype = np.dtype(value["dtype"])
    if dtype.kind not in "biufc":  # raw bytes are only ever numbers: never objects or records
        raise ValueError(f"an encoded array must hold numbers, not dtype {dtype}")
    shape = tuple(int(n) for n in value["shape"])
    if any(n < 0 for n in shape):
        raise ValueError(f"an array cannot have shape {shape}")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    data = base64.b64decode(value["data"], validate=True)
    if value["__ndarray__"] == "zshuffle":
        inflater = zlib.decompressobj()
        planes = inflater.decompress(data, expected + 1)  # never more than the shape says: no inflation bomb
        if len(planes) != expected or inflater.unconsumed_tail:
            raise ValueError(f"the compressed data does not hold the {expected:,} bytes its shape {shape} declares")
        data = np.frombuffer(planes, dtype=np.uint8).reshape(dtype.itemsize, -1).T.tobytes()
    elif value["__ndarray__"] != "b64":
        raise ValueError(f"unknown array encoding {value['__ndarray__']!r}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
