"""A safe encoding of the values that cross from a student's kernel to the grader: JSON, never pickle.

Only plain data is encoded: ``None``, booleans, numbers, strings, lists, tuples, dicts, NumPy arrays and
scalars (numeric and boolean dtypes), and PyTorch tensors (as arrays). Subclasses are reduced to their base
type (an ``ndarray`` subclass with its own ``__eq__`` arrives as a plain array). Anything else is recorded
as :class:`Opaque`, which equals nothing and supports no arithmetic, so a check that meets it fails.
Decoding builds only these types: a forged record can carry wrong values, never code.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

import numpy as np

ALLOWED_KINDS = "biufc"  # bool, signed, unsigned, float, complex


class Opaque:
    """A value of a type the record cannot carry; it compares unequal to everything and computes nothing."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


def _array(value: np.ndarray, tag: str) -> dict[str, Any]:
    arr = np.ascontiguousarray(np.asarray(value).view(np.ndarray))
    if arr.dtype.kind not in ALLOWED_KINDS:
        return {"t": "opaque", "type": f"array of {arr.dtype}"}
    data = base64.b64encode(arr.tobytes()).decode("ascii")
    return {"t": tag, "dtype": arr.dtype.str, "shape": list(arr.shape), "data": data}


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready data (see the module's docstring for what is carried)."""
    if depth > 20:
        return {"t": "opaque", "type": "deeply nested value"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"t": "int", "v": str(int(value))}
    if isinstance(value, float):
        return {"t": "float", "v": repr(float(value))}
    if isinstance(value, complex):
        return {"t": "complex", "re": repr(value.real), "im": repr(value.imag)}
    if isinstance(value, np.generic):
        return {"t": "npscalar", "a": _array(np.asarray(value), "array")}
    if isinstance(value, np.ndarray):
        return _array(value, "array")
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        try:
            return _array(value.detach().cpu().numpy(), "tensor")
        except Exception:
            return {"t": "opaque", "type": "torch tensor"}
    if isinstance(value, (list, tuple)):
        return {"t": "list" if isinstance(value, list) else "tuple", "v": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    return {"t": "opaque", "type": type(value).__name__}


def decode(data: Any) -> Any:
    """The value ``data`` encodes; unknown or malformed entries become :class:`Opaque`."""
    if data is None or isinstance(data, (bool, str)):
        return data
    if not isinstance(data, dict):
        return Opaque(type(data).__name__)
    tag = data.get("t")
    try:
        if tag == "int":
            return int(data["v"])
        if tag == "float":
            return float(data["v"])
        if tag == "complex":
            return complex(float(data["re"]), float(data["im"]))
        if tag in ("array", "tensor"):
            dtype = np.dtype(data["dtype"])
            if dtype.kind not in ALLOWED_KINDS:
                return Opaque(f"array of {dtype}")
            shape = tuple(int(n) for n in data["shape"])
            arr = np.frombuffer(base64.b64decode(data["data"]), dtype=dtype).reshape(shape).copy()
            if tag == "tensor":
                import torch

                return torch.from_numpy(arr)
            return arr
        if tag == "npscalar":
            return decode(data["a"])[()]
        if tag in ("list", "tuple"):
            items = [decode(v) for v in data["v"]]
            return items if tag == "list" else tuple(items)
        if tag == "dict":
            return {_key(decode(k)): decode(v) for k, v in data["v"]}
        if tag == "opaque":
            return Opaque(str(data.get("type", "unknown")))
    except Exception:
        return Opaque("malformed record")
    return Opaque(str(tag))


def _key(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def digest(value: Any) -> str:
    """A fingerprint of ``value`` (arguments of a call): equal values give equal fingerprints."""
    h = hashlib.sha256()
    _feed(h, value, 0)
    return h.hexdigest()[:24]


def _feed(h: Any, value: Any, depth: int) -> None:
    if depth > 20:
        h.update(b"<deep>")
    elif isinstance(value, np.ndarray) or isinstance(value, np.generic):
        arr = np.ascontiguousarray(np.asarray(value).view(np.ndarray))
        h.update(f"a{arr.dtype.str}{arr.shape}".encode())
        if arr.dtype.kind in ALLOWED_KINDS:
            h.update(arr.tobytes())
    elif type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        _feed(h, value.detach().cpu().numpy(), depth)
    elif isinstance(value, (list, tuple)):
        h.update(b"[" if isinstance(value, list) else b"(")
        for v in value:
            _feed(h, v, depth + 1)
        h.update(b"]")
    elif isinstance(value, dict):
        h.update(b"{")
        for k, v in value.items():
            _feed(h, k, depth + 1)
            _feed(h, v, depth + 1)
        h.update(b"}")
    elif isinstance(value, float):
        h.update(b"f" + (b"nan" if math.isnan(value) else repr(value).encode()))
    elif value is None or isinstance(value, (bool, int, str, complex)):
        h.update(f"{type(value).__name__}:{value!r}".encode())
    else:
        name = getattr(value, "__recorded_name__", None) or type(value).__name__
        h.update(f"<{name}>".encode())
