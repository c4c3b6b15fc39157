"""Evaluate an assert's condition in the parent, on plain values only.

A test like ``assert abs(area(2) - 12.566) < 1e-3`` has one part that needs the code under test
(``area(2)``, a *probe*, answered by the sandbox as plain data) and a part that decides the
verdict (``abs(_ - 12.566) < 1e-3``). The deciding part runs here, with this small interpreter:
constants, containers, arithmetic, comparisons, boolean logic, subscripts and a few pure builtins,
on real builtin values. Nothing else is supported, so nothing model-written can run in the parent;
sizes are guarded so that a test such as ``[0] * 10**12`` fails instead of exhausting memory.
"""

from __future__ import annotations

import ast
import math
import operator

from gpu_ops.errors import InputError

MAX_SIZE = 100_000  # longest sequence / largest exponent a test may build in the parent
MAX_INT_BITS = 4096


class TrustedEvalError(ValueError):
    """The expression uses something this interpreter does not do, or exceeds a size guard."""


def _sized(value: object) -> object:
    if isinstance(value, (str, bytes, list, tuple, set, frozenset, dict)) and len(value) > MAX_SIZE:
        raise TrustedEvalError("value too large")
    if type(value) is int and value.bit_length() > MAX_INT_BITS:
        raise TrustedEvalError("integer too large")
    return value


def _mul(a: object, b: object) -> object:
    for seq, count in ((a, b), (b, a)):
        sequence = isinstance(seq, (str, bytes, list, tuple)) and type(count) is int
        if sequence and count * len(seq) > MAX_SIZE:
            raise TrustedEvalError("sequence repetition too large")
    return operator.mul(a, b)


def _pow(a: object, b: object) -> object:
    if type(b) is int and abs(b) > 1000:
        raise TrustedEvalError("exponent too large")
    return operator.pow(a, b)


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _pow,
}
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
SAFE_FUNCTIONS = {
    "abs": abs,
    "len": len,
    "round": round,
    "sorted": sorted,
    "set": set,
    "frozenset": frozenset,
    "list": list,
    "tuple": tuple,
    "sum": sum,
    "min": min,
    "max": max,
    "all": all,
    "any": any,
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "isinstance": isinstance,
    "type": type,
    "dict": dict,
    "math.isclose": math.isclose,
    "math.fabs": math.fabs,
    "math.isnan": math.isnan,
    "math.sqrt": math.sqrt,
}
SAFE_NAMES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple,
              "dict": dict, "set": set, "bytes": bytes, "type": type}  # fmt: skip
_SAFE_KEYWORDS = {"reverse", "rel_tol", "abs_tol", "key"}


def function_name(node: ast.expr) -> str | None:
    """'abs' or 'math.isclose' for a call target this interpreter knows, else None."""
    if isinstance(node, ast.Name) and node.id in SAFE_FUNCTIONS:
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and f"{node.value.id}.{node.attr}" in SAFE_FUNCTIONS
    ):
        return f"{node.value.id}.{node.attr}"
    return None


def evaluate(node: ast.expr, names: dict[str, object], depth: int = 0) -> object:
    """The value of ``node`` with ``names`` bound (the probes' answers); raises
    TrustedEvalError for anything outside the supported subset, or the operation's own error."""
    if depth > 60:
        raise TrustedEvalError("expression nested too deeply")
    ev = lambda child: evaluate(child, names, depth + 1)  # noqa: E731 - local shorthand
    if isinstance(node, ast.Constant):
        return _sized(node.value)
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        if node.id in SAFE_NAMES:
            return SAFE_NAMES[node.id]
        raise TrustedEvalError(f"unknown name {node.id}")
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise TrustedEvalError("starred element")
        items = [ev(e) for e in node.elts]
        kind = {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)]
        return _sized(kind(items))
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise TrustedEvalError("dict unpacking")
        return _sized({ev(k): ev(v) for k, v in zip(node.keys, node.values, strict=True)})
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](ev(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _sized(_BINARY[type(node.op)](ev(node.left), ev(node.right)))
    if isinstance(node, ast.BoolOp):
        value: object = isinstance(node.op, ast.And)
        for child in node.values:
            value = ev(child)
            if bool(value) != isinstance(node.op, ast.And):
                return value
        return value
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = ev(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = ev(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return ev(node.body) if ev(node.test) else ev(node.orelse)
    if isinstance(node, ast.Subscript):
        return ev(node.value)[ev(node.slice)]
    if isinstance(node, ast.Slice):
        parts = (node.lower, node.upper, node.step)
        return slice(*(ev(p) if p is not None else None for p in parts))
    if isinstance(node, ast.Call) and (name := function_name(node.func)):
        if any(k.arg not in _SAFE_KEYWORDS for k in node.keywords):
            raise TrustedEvalError(f"keyword argument to {name}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise TrustedEvalError("starred argument")
        kwargs = {k.arg: ev(k.value) for k in node.keywords if k.arg}
        if "key" in kwargs and kwargs["key"] not in SAFE_FUNCTIONS.values():
            raise TrustedEvalError("key= must be a known builtin")
        return _sized(SAFE_FUNCTIONS[name](*[ev(a) for a in node.args], **kwargs))
    raise TrustedEvalError(f"unsupported expression: {type(node).__name__}")


def check(condition: ast.expr, names: dict[str, object]) -> bool:
    """Whether the assert condition holds; any error, guard or exception counts as not holding."""
    if not isinstance(condition, ast.expr):
        raise InputError(f"check needs an expression node, got {type(condition).__name__}")
    try:
        return bool(evaluate(condition, names))
    except (TrustedEvalError, ArithmeticError, TypeError, ValueError, KeyError, IndexError,
            AttributeError, RecursionError, MemoryError):  # fmt: skip
        return False
