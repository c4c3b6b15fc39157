"""Stable content-hash ids and seeds, so reruns produce the same rows and cache keys.

Every id in the lake is a hex prefix of a SHA-256 over a canonical JSON encoding of its parts.
JSON keeps the parts apart (``("ab", "c")`` and ``("a", "bc")`` differ) and ``ensure_ascii``
makes strings with lone surrogates or NUL bytes hashable too.
"""

from __future__ import annotations

import hashlib
import json

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.frames import require_columns
from gpu_ops.prompts import PROMPT_VERSION

ID_HEX_CHARS = 16
__all__ = ["content_id", "derive_seed", "prompt_hash", "require_columns", "require_unique"]

SEED_MODULUS = 2**31 - 1  # seeds stay positive int32: accepted by torch, vLLM and OpenAI servers


def _canonical(parts: tuple[object, ...]) -> bytes:
    try:
        text = json.dumps(parts, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"id parts must be JSON values (str, int, float, bool, None, lists, dicts): {exc}"
        ) from exc
    return text.encode("ascii")


def content_id(*parts: object) -> str:
    """A 16-hex-character id for the given parts (order matters, types matter: 1 != "1")."""
    if not parts:
        raise InputError("content_id needs at least one part")
    return hashlib.sha256(_canonical(parts)).hexdigest()[:ID_HEX_CHARS]


def prompt_hash(prompt: object) -> str:
    """Id of a prompt (rendered text or a chat message list) under the current PROMPT_VERSION."""
    return content_id("prompt", PROMPT_VERSION, prompt)


def derive_seed(*parts: object) -> int:
    """A per-row sampling seed in [0, 2**31 - 1) derived from the run seed and the row's identity."""
    digest = hashlib.sha256(_canonical(("seed", *parts))).digest()
    return int.from_bytes(digest[:8], "big") % SEED_MODULUS


def require_unique(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    """Raise InputError when key columns hold nulls or duplicate keys (a stage would do work twice)."""
    nulls = [c for c in columns if frame[c].null_count()]
    if nulls:
        raise InputError(f"{what} has null values in key columns {nulls}")
    if frame.height and frame.select(columns).is_duplicated().any():
        dupes = frame.filter(frame.select(columns).is_duplicated()).select(columns).head(3)
        raise InputError(f"{what} has duplicate keys {columns}, e.g. {dupes.rows()}")
