"""Plain data across the sandbox boundary: a JSON form of Python values, exact types kept.

Values allowed: None, bool, int, float (nan and infinities too), str, bytes, list, tuple, dict,
set, frozenset, nested. JSON has only some of these, so everything else is a tagged object
``{"$": tag, "v": ...}``: every JSON object is a tag, which keeps the form unambiguous.

``encode_answer`` (used inside the sandbox on what the code under test returned) also accepts
what ordinary correct answers return and what compares like a builtin: subclasses of the
builtins (``namedtuple``, ``IntEnum``, ``OrderedDict``, ``defaultdict``, ``Counter``...) travel as
their base type; ``dict.keys()``/``values()``/``items()`` as real views over plain values (set-like
equality kept); ``range`` as a range; any other iterator (generator, ``map``, ``filter``, ``zip``)
is drained inside the sandbox, at most ``MAX_ITEMS`` items, and arrives as a real list iterator:
``list(f())`` works, ``f() == [..]`` is False, as in Python.

This file has no imports beyond the standard library because its source text is also shipped
into the sandbox (``CODEC_SOURCE``), where the runner encodes what the code under test returned.
Whatever comes back is only data: ``decode`` (in the trusted parent) rebuilds real builtins with
strict type checks, so an object with a rigged ``__eq__`` cannot cross; comparisons happen on the
parent's side, on the parent's values.
"""

from __future__ import annotations

import collections
import json
import math

MAX_DEPTH = 100
MAX_INT_DIGITS = 4000
MAX_ITEMS = 100_000  # items one iterator may yield into an answer
MAX_SAME_HASH = 8  # equal hashes tolerated among one set's items (more: a collision attack)


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


def _base(value):
    """The plain form of a value that compares like a builtin: a subclass keeping the builtin's
    ``__eq__`` (namedtuple, IntEnum, defaultdict...) or one of the stdlib's (OrderedDict,
    Counter, equal to a dict as a dict is); ("tag", items) for views, ranges and iterators."""
    kind = type(value)
    for base in (bool, int, float, str, bytes, tuple, list, dict, set, frozenset):
        if isinstance(value, base):
            if kind.__eq__ is not base.__eq__ and kind not in _STDLIB_EQUAL:
                raise PlainDataError("not plain data: " + kind.__name__ + " with its own __eq__")
            if base is bool:
                return bool(value)
            if base is int:
                return int.__index__(value)
            if base is float:
                return float.__float__(value)
            if base is str:
                return str.__str__(value)
            if base is bytes:
                return bytes(memoryview(value))
            if base is dict:
                return dict(dict.items(value))
            return base(base.__iter__(value))
    if kind is range:
        return ("range", [value.start, value.stop, value.step])
    name = kind.__name__
    if name in ("dict_keys", "dict_values", "dict_items") and kind.__module__ == "builtins":
        return (name[5:], list(value))
    if hasattr(kind, "__next__") and hasattr(kind, "__iter__"):
        items = []
        for item in value:
            if len(items) >= MAX_ITEMS:
                raise PlainDataError("iterator longer than " + str(MAX_ITEMS))
            items.append(item)
        return ("iter", items)
    raise PlainDataError("not plain data: " + name)


def encode_answer(value, depth=0):
    """``encode``, plus what compares like a builtin (see the module docstring); refuses
    anything else. Only used on the sandbox side: the result is still plain data."""
    if depth > MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, str, int, float, bytes):
        return encode(value, depth)
    if kind is list:
        return [encode_answer(item, depth + 1) for item in value]
    if kind is tuple:
        return {"$": "tuple", "v": [encode_answer(item, depth + 1) for item in value]}
    if kind in (set, frozenset):
        items = [encode_answer(item, depth + 1) for item in value]
        return {"$": kind.__name__, "v": sorted(items, key=json.dumps)}
    if kind is dict:
        pairs = [
            [encode_answer(k, depth + 1), encode_answer(v, depth + 1)] for k, v in value.items()
        ]
        return {"$": "dict", "v": pairs}
    base = _base(value)
    if type(base) is tuple and len(base) == 2 and type(base[0]) is str and base[0] in _VIEWS:
        return {"$": base[0], "v": [encode_answer(item, depth + 1) for item in base[1]]}
    return encode_answer(base, depth + 1)


_VIEWS = ("range", "keys", "values", "items", "iter")
_STDLIB_EQUAL = (collections.OrderedDict, collections.Counter)


def dumps(value):
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def _hashable(value, what):
    try:
        hash(value)
    except TypeError:
        raise PlainDataError(what + " item is not hashable") from None
    return value


def _no_collisions(items, what):
    """Refuse items whose hashes collide en masse: building a set of them is quadratic."""
    counts = {}
    for item in items:
        key = hash(item)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] > MAX_SAME_HASH:
            raise PlainDataError(what + " items collide in hash")
    return items


def decode(data, depth=0):
    """Rebuild the value from its JSON form, refusing anything malformed (and sets or dicts
    whose items collide in hash: a quadratic build)."""
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
    if tag in ("set", "frozenset", "keys"):
        items = _no_collisions([_hashable(decode(item, depth + 1), tag) for item in inner], tag)
        if tag == "keys":
            return dict.fromkeys(items).keys()
        return set(items) if tag == "set" else frozenset(items)
    if tag in ("dict", "items"):
        pairs = []
        for pair in inner:
            if tag == "items" and type(pair) is dict and pair.get("$") == "tuple":
                pair = pair["v"]
            if type(pair) is not list or len(pair) != 2:
                raise PlainDataError("malformed dict item")
            pairs.append(
                (_hashable(decode(pair[0], depth + 1), "dict key"), decode(pair[1], depth + 1))
            )
        _no_collisions([key for key, _ in pairs], "dict")
        return dict(pairs) if tag == "dict" else dict(pairs).items()
    if tag == "values":
        return dict(enumerate(decode(item, depth + 1) for item in inner)).values()
    if tag == "iter":
        return iter([decode(item, depth + 1) for item in inner])
    if tag == "range" and len(inner) == 3 and all(type(n) is int for n in inner) and inner[2]:
        return range(*inner)
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
