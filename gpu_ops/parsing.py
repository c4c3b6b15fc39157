"""Parsers for judge replies: ``[[n]]`` ratings, ``[[A]]``/``[[B]]``/``[[Tie]]`` verdicts, and
expected scores from choice log-probabilities.

The rule for both parsers (never guess):
- Only ``[[...]]`` tokens on one line and outside fenced code blocks count (a reply may quote code such as
  ``x = [[1]]`` or a response that contains its own fake verdict inside a fence).
  Fences follow CommonMark: a line of 3+ backticks or tildes opens a block that a matching line
  closes (trailing spaces, tabs and CRLF line ends allowed); an unclosed fence runs to the end of
  the reply, so a verdict after a fence that never closes is not found.
- Every verdict-like token must agree. Repeating the same verdict (``Rating: [[7]] ... [[7]]``) is
  fine and returns it; two different verdicts return None. We do not take the first or the last
  token: a reply that says two things has not decided.
- No verdict-like token returns None. Unparsed replies are stored as such, never coerced.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

from gpu_ops.errors import InputError
from gpu_ops.prompts import SCORE_LABELS

Verdict = Literal["A", "B", "tie"]

# "[[", up to 32 characters (no brackets, no newline) between optional spaces/tabs, "]]". The regex
# takes the whole inside and Python strips it: the equivalent one-regex form
# (\[\[[ \t]*(...{1,32}?)[ \t]*\]\]) backtracks quadratically on "[[" followed by a long run of
# spaces that never closes (8,000 spaces took 13 s).
_TOKEN = re.compile(r"\[\[([^\[\]\n]*)\]\]")
_MAX_TOKEN_CHARS = 32
_NUMERIC = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:\s*/\s*[0-9]+)?")
_PLAIN_INT = re.compile(r"[0-9]{1,2}")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_VERDICTS: dict[str, Verdict] = {"a": "A", "b": "B", "tie": "tie"}


def _as_text(reply: str | bytes | None) -> str | None:
    if reply is None:
        return None
    if isinstance(reply, bytes):
        return reply.decode("utf-8", errors="replace")
    if not isinstance(reply, str):
        raise InputError(f"a reply must be str, bytes or None, got {type(reply).__name__}")
    return reply


def strip_fenced_code(text: str) -> str:
    """The reply with every fenced code block (fence lines included) removed."""
    kept: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        if fence is None:
            opened = _FENCE_OPEN.match(line)
            if opened:
                fence = opened.group(1)
                # A backtick fence whose info string contains a backtick is not a fence.
                if fence[0] == "`" and "`" in line[opened.end() :]:
                    fence = None
                    kept.append(line)
                continue
            kept.append(line)
        else:
            # A closing fence may carry trailing spaces or tabs, and "\r" of a CRLF line ending.
            body = line.rstrip(" \t\r")
            stripped = body.lstrip(" ")
            if (
                len(body) - len(stripped) <= 3
                and stripped
                and set(stripped) == {fence[0]}
                and len(stripped) >= len(fence)
            ):
                fence = None
    return "\n".join(kept)


def _tokens(reply: str) -> list[str]:
    inner = (m.group(1).strip(" \t") for m in _TOKEN.finditer(strip_fenced_code(reply)))
    return [token for token in inner if 1 <= len(token) <= _MAX_TOKEN_CHARS]


def parse_score(reply: str | bytes | None) -> int | None:
    """The 1..10 rating in ``[[n]]`` format, or None when absent, out of range or ambiguous.

    Numeric tokens that are not a plain integer in 1..10 (``[[0]]``, ``[[11]]``, ``[[7.5]]``,
    ``[[7/10]]``) make the reply unparsed; non-numeric tokens (``[[A]]``) are ignored.
    """
    text = _as_text(reply)
    if text is None:
        return None
    scores: set[int] = set()
    for token in _tokens(text):
        if not _NUMERIC.fullmatch(token):
            continue
        if not _PLAIN_INT.fullmatch(token) or not 1 <= int(token) <= 10:
            return None
        scores.add(int(token))
    return scores.pop() if len(scores) == 1 else None


def parse_verdict(reply: str | bytes | None) -> Verdict | None:
    """``"A"``, ``"B"`` or ``"tie"`` from ``[[A]]``/``[[B]]``/``[[Tie]]`` (any case), else None.

    Tokens other than A, B and Tie (``[[C]]``, ``[[5]]``) are ignored.
    """
    text = _as_text(reply)
    if text is None:
        return None
    verdicts = {_VERDICTS[t.casefold()] for t in _tokens(text) if t.casefold() in _VERDICTS}
    return verdicts.pop() if len(verdicts) == 1 else None


def normalized_probabilities(logprobs: Mapping[str, float]) -> dict[str, float]:
    """Log-probabilities renormalized into probabilities that sum to 1 (stable softmax)."""
    if not logprobs:
        raise InputError("need at least one log-probability")
    values = {}
    for key, value in logprobs.items():
        value = float(value)
        if math.isnan(value) or value == math.inf:
            raise InputError(f"log-probability of {key!r} is {value}")
        values[key] = value
    top = max(values.values())
    if top == -math.inf:
        raise InputError("every choice has probability zero")
    weights = {k: math.exp(v - top) for k, v in values.items()}
    total = math.fsum(weights.values())
    return {k: w / total for k, w in weights.items()}


def expected_score(logprobs: Mapping[str, float]) -> float:
    """Expected rating sum(n * p(n)) over the labels "1".."10" (renormalized over those given)."""
    unknown = sorted(set(logprobs) - set(SCORE_LABELS))
    if unknown:
        raise InputError(f"score labels must be among '1'..'10', got {unknown}")
    probs = normalized_probabilities(logprobs)
    return math.fsum(int(label) * p for label, p in probs.items())


def argmax_label(probs: Mapping[str, float], order: tuple[str, ...]) -> str:
    """The most probable label; exact ties go to the label earliest in ``order``."""
    return max(order, key=lambda label: (probs.get(label, 0.0), -order.index(label)))
