"""Plain data across the sandbox boundary: a JSON form of Python values, exact types kept.

Values allowed: None, bool, int, float (nan and infinities too), str, bytes, list, tuple, dict,
set, frozenset, nested. JSON has only some of these, so everything else is a tagged object
``{"$": tag, "v": ...}``: every JSON object is a tag, which keeps the form unambiguous.

This file has no imports beyond the standard library because its source text is also shipped
into the sandbox (``CODEC_SOURCE``), where the runner encodes what the code under test returned.
Whatever comes back is only data: ``decode`` (in the trusted parent) rebuilds real builtins with
strict type checks, so an object with a rigged ``__eq__`` cannot cross; comparisons happen on the
parent's side, on the parent's values.
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 100
MAX_INT_DIGITS = 4000


class PlainDataError(ValueError):
    """A value that is not plain data, or a malformed encoding."""


def encode(value, depth=0):
    """The JSON-ready form of ``value``; raises PlainDataError for anything else (exact types:
    subclasses of int, str, list... are refused, they can carry their own ``__eq__``)."""
    if depth > MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value if -(2**53) < value < 2**53 else {"$": "int", "v": str(value)}
    if kind is float:
        return {"$": "float", "v": repr(value)}
    if kind is bytes:
        return {"$": "bytes", "v": value.hex()}
    if kind is list:
        return [encode(item, depth + 1) for item in value]
    if kind is tuple:
        return {"$": "tuple", "v": [encode(item, depth + 1) for item in value]}
    if kind in (set, frozenset):
        items = [encode(item, depth + 1) for item in value]
        return {"$": kind.__name__, "v": sorted(items, key=json.dumps)}
    if kind is dict:
        pairs = [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]
        return {"$": "dict", "v": pairs}
    raise PlainDataError("not plain data: " + kind.__name__)


def dumps(value):
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def _hashable(value, what):
    try:
        hash(value)
    except TypeError:
        raise PlainDataError(what + " item is not hashable") from None
    return value


def decode(data, depth=0):
    """Rebuild the value from its JSON form, refusing anything malformed."""
    if depth > MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    kind = type(data)
    if data is None or kind is bool or kind is str:
        return data
    if kind is int:
        if not -(2**53) < data < 2**53:
            raise PlainDataError("large int outside its tag")
        return data
    if kind is list:
        return [decode(item, depth + 1) for item in data]
    if kind is not dict or set(data) != {"$", "v"}:
        raise PlainDataError("malformed value of type " + kind.__name__)
    tag, inner = data["$"], data["v"]
    if tag == "int" and type(inner) is str and len(inner) <= MAX_INT_DIGITS:
        return int(inner)
    if tag == "float" and type(inner) is str and len(inner) <= 40:
        return float(inner)
    if tag == "bytes" and type(inner) is str:
        return bytes.fromhex(inner)
    if type(inner) is not list:
        raise PlainDataError("malformed " + str(tag)[:20] + " value")
    if tag == "tuple":
        return tuple(decode(item, depth + 1) for item in inner)
    if tag in ("set", "frozenset"):
        items = [_hashable(decode(item, depth + 1), tag) for item in inner]
        return set(items) if tag == "set" else frozenset(items)
    if tag == "dict":
        result = {}
        for pair in inner:
            if type(pair) is not list or len(pair) != 2:
                raise PlainDataError("malformed dict item")
            result[_hashable(decode(pair[0], depth + 1), "dict key")] = decode(pair[1], depth + 1)
        return result
    raise PlainDataError("unknown tag " + repr(tag)[:30])


def _no_float(text):
    raise PlainDataError("bare JSON number " + text[:20] + " (floats travel tagged)")


def loads(text):
    """Parse and decode one encoded value; raises PlainDataError for anything malformed."""
    try:
        data = json.loads(text, parse_float=_no_float, parse_constant=_no_float)
        return decode(data)
    except PlainDataError:
        raise
    except (ValueError, TypeError, RecursionError, MemoryError) as error:
        raise PlainDataError(type(error).__name__ + ": " + str(error)[:100]) from None


def same(expected, got, abs_tol=1e-6, rel_tol=1e-9):
    """Equality as an ``==`` assert would decide it on these builtins, with floats compared to
    ``abs_tol`` / ``rel_tol`` (reference and candidate may round differently; EvalPlus problems
    bring their own tolerance), inside containers too; list and tuple differ."""
    if isinstance(expected, float) or isinstance(got, float):
        numbers = (int, float)
        if not (isinstance(expected, numbers) and isinstance(got, numbers)):
            return False
        if type(expected) is bool or type(got) is bool:
            return expected == got
        if math.isnan(expected) or math.isnan(got):
            return math.isnan(expected) and math.isnan(got)
        return math.isclose(expected, got, rel_tol=rel_tol, abs_tol=abs_tol)
    if type(expected) in (list, tuple) and type(got) is type(expected):
        return len(expected) == len(got) and all(
            same(e, g, abs_tol, rel_tol) for e, g in zip(expected, got, strict=True)
        )
    if type(expected) is dict and type(got) is dict:
        return expected.keys() == got.keys() and all(
            same(v, got[k], abs_tol, rel_tol) for k, v in expected.items()
        )
    return expected == got
