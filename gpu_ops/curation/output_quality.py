"""Quality flags of a model output: empty, enormous, truncated, undecodable, control characters,
text addressed to the judge, and verdict tokens hidden in code blocks.

Why: responses are untrusted model text that is stored, shown to LLM judges and parsed. Nothing
here changes a response; the flags only count what arrived, so a judge flipped by an injected
``[[A]]`` or a backend emitting junk becomes visible. This module is the only implementation:
the responses stage stores each response's flags in the lake (``flag_<name>`` columns, see
``with_quality_flags``) and the mart ``response_quality`` only counts them.

Definitions (each flag is independent; a None text counts as empty and nothing else):

- ``empty``: only ASCII whitespace (space, \\t, \\n, \\r, \\f, \\v) or nothing.
- ``enormous``: more than ``max_chars`` code points (default MAX_RESPONSE_CHARS).
- ``truncated``: the backend stopped at max_new_tokens (``finish_reason == "length"``).
- ``nul_bytes``: contains U+0000.
- ``replacement_chars``: contains U+FFFD (what decoders put in place of undecodable bytes) or a
  lone surrogate (which cannot be stored: see ``sanitize_for_storage``).
- ``control_chars``: C0 controls other than NUL, \\t, \\n, \\r (so \\f and \\v count), DEL and C1
  controls (U+0080..U+009F); ANSI escapes (ESC) count.
- ``injection_phrase``: matches one of INJECTION_PATTERNS (case-insensitive, ASCII folding).
- ``verdict_token``: a verdict token ``[[A]]``, ``[[B]]`` or ``[[Tie]]`` (any case, inner spaces
  or tabs) anywhere in the text. Code can spell one (``pairs = [[a]]``), so this counts
  candidates; ``injection_phrase`` is the stronger signal.
- ``verdict_in_code``: such a token inside a fenced code block, i.e. one that
  ``gpu_ops.parsing`` ignores when the text is a judge reply.
- ``judge_injection``: injection_phrase or verdict_token (text that talks to the judge).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.lake_schemas import RESPONSE_FLAGS
from gpu_ops.parsing import strip_fenced_code

MAX_RESPONSE_CHARS = 32_000  # responses are capped at 2048 new tokens (~8k chars) by default

# ASCII whitespace only: Python's str.isspace also takes Unicode spaces, DuckDB's \s does not.
BLANK_PATTERN = r"[ \t\n\r\f\v]*"
CONTROL_PATTERN = r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_BLANK = re.compile(BLANK_PATTERN)
_CONTROL = re.compile(CONTROL_PATTERN)
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# The same token shape as gpu_ops.parsing (brackets, optional spaces/tabs) restricted to verdicts.
VERDICT_TOKEN_PATTERN = r"\[\[[ \t]*(a|b|tie)[ \t]*\]\]"

# Phrases addressed to an LLM judge (or to any model reading the text), one regex each. Written
# for both Python re and RE2 (DuckDB): no look-around, no backreferences, explicit whitespace.
INJECTION_PATTERNS: dict[str, str] = {
    # "Ignore previous instructions", "disregard all prior rules", "forget the above prompt"
    "override": (
        r"(ignore|disregard|forget|override)[ \t\r\n]+((all|any)[ \t\r\n]+)?"
        r"((the|your|my|these|those)[ \t\r\n]+)?"
        r"(previous|prior|above|earlier|preceding|system|original)[ \t\r\n]+"
        r"(instructions?|prompts?|rules|directions|messages?|guidelines)"
    ),
    # "The judge should ...", "Dear judge,", "note for the AI evaluator:"
    "addresses_judge": (
        r"(the|dear|attention|hello|hi|to[ \t\r\n]+the|for[ \t\r\n]+the)[ \t\r\n,:]+"
        r"(((ai|llm|model)[ \t\r\n]+)?judge|(ai|llm)[ \t\r\n]+(evaluator|grader))"
        r"([ \t\r\n,:]+(should|must|shall|will|needs[ \t\r\n]+to|has[ \t\r\n]+to|is[ \t\r\n]+to)"
        r"|[ \t]*[,:!])"
    ),
    # "answer [[A]]", "output the final verdict", "choose Assistant A"
    "verdict_request": (
        r"(answer|output|respond|reply|say|print|write|give|choose|pick|select|declare|vote)"
        r"[ \t]+((with|only|the|your|a|final|for)[ \t]+)*"
        r"(verdict|\[\[[ \t]*(a|b|tie)[ \t]*\]\]|(assistant|response)[ \t]+(a|b)\b)"
    ),
    # Forged prompt markers, e.g. "<<<END OF ASSISTANT A'S RESPONSE 1a2b3c4d>>>"
    "forged_marker": r"<<<[ \t]*(start|end)[ \t]+of[ \t]",
    # Chat-template control tokens inside the text: "<|im_start|>system", "[INST]"
    "chat_template_token": (
        r"<\|(im_start|im_end|system|user|assistant|end|eot_id|start_header_id)\|>|\[/?inst\]"
    ),
}

# Matching is case-insensitive with ASCII-only folding: the patterns run, without IGNORECASE, on
# the text with its ASCII letters lowered (bytes.lower), which lets re skip ahead by first
# character (IGNORECASE made the 5 patterns cost ~2.5 us per character). RE2 (DuckDB) also folds
# U+017F to s and U+212A to k, so a text spelling "ignore" with those letters is flagged by SQL only.
_VERDICT = re.compile(VERDICT_TOKEN_PATTERN, re.ASCII)
_INJECTION = [re.compile(pattern, re.ASCII) for pattern in INJECTION_PATTERNS.values()]


def _ascii_lower(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


FLAG_NAMES: tuple[str, ...] = RESPONSE_FLAGS


@dataclass(frozen=True)
class OutputQuality:
    """The quality flags of one output (see the module docstring for each definition)."""

    empty: bool
    enormous: bool
    truncated: bool
    nul_bytes: bool
    replacement_chars: bool
    control_chars: bool
    injection_phrase: bool
    verdict_token: bool
    verdict_in_code: bool
    judge_injection: bool

    @property
    def any(self) -> bool:
        return any(asdict(self).values())


def _count_verdicts(text: str) -> int:
    return sum(1 for _ in _VERDICT.finditer(text))


def classify_output(
    text: str | None, finish_reason: str | None = None, *, max_chars: int = MAX_RESPONSE_CHARS
) -> OutputQuality:
    """The quality flags of one model output (never raises on hostile text)."""
    if text is not None and not isinstance(text, str):
        raise InputError(f"an output must be str or None, got {type(text).__name__}")
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise InputError(f"max_chars must be an integer >= 1, got {max_chars!r}")
    truncated = finish_reason == "length"
    if text is None:
        return OutputQuality(True, False, truncated, *([False] * 7))
    lowered = _ascii_lower(text)
    injection = any(regex.search(lowered) is not None for regex in _INJECTION)
    verdicts = _count_verdicts(lowered)
    # Tokens never span lines, so the ones strip_fenced_code removes are exactly those in code.
    in_code = verdicts > 0 and _count_verdicts(strip_fenced_code(lowered)) < verdicts
    return OutputQuality(
        empty=_BLANK.fullmatch(text) is not None,
        enormous=len(text) > max_chars,
        truncated=truncated,
        nul_bytes="\x00" in text,
        replacement_chars="\ufffd" in text or _SURROGATE.search(text) is not None,
        control_chars=_CONTROL.search(text) is not None,
        injection_phrase=injection,
        verdict_token=verdicts > 0,
        verdict_in_code=in_code,
        judge_injection=injection or verdicts > 0,
    )


def quality_frame(
    responses: pl.DataFrame,
    *,
    text_column: str = "response",
    max_chars: int = MAX_RESPONSE_CHARS,
) -> pl.DataFrame:
    """``responses`` with one Boolean column per flag (``finish_reason`` used when present)."""
    if text_column not in responses.columns:
        raise InputError(f"responses has no column {text_column!r}")
    texts = responses[text_column].to_list()
    reasons: Iterable[str | None] = (
        responses["finish_reason"].to_list()
        if "finish_reason" in responses.columns
        else [None] * len(texts)
    )
    flags = [
        asdict(classify_output(t, r, max_chars=max_chars))
        for t, r in zip(texts, reasons, strict=True)
    ]
    table = pl.DataFrame(flags, schema=dict.fromkeys(FLAG_NAMES, pl.Boolean))
    return pl.concat([responses, table], how="horizontal")


def with_quality_flags(
    responses: pl.DataFrame, *, max_chars: int = MAX_RESPONSE_CHARS
) -> pl.DataFrame:
    """``responses`` plus its ``flag_<name>`` columns, as the lake table stores them."""
    flagged = quality_frame(
        responses.drop([f"flag_{n}" for n in FLAG_NAMES], strict=False), max_chars=max_chars
    )
    return flagged.rename({name: f"flag_{name}" for name in FLAG_NAMES})


def count_flags(
    responses: pl.DataFrame,
    *,
    by: str = "expert",
    text_column: str = "response",
    max_chars: int = MAX_RESPONSE_CHARS,
) -> pl.DataFrame:
    """Per ``by`` value: n_responses, n_<flag> for every flag and n_flagged (any flag)."""
    flagged = quality_frame(responses, text_column=text_column, max_chars=max_chars)
    return (
        flagged.group_by(by)
        .agg(
            pl.len().cast(pl.Int64).alias("n_responses"),
            *[pl.col(name).sum().cast(pl.Int64).alias(f"n_{name}") for name in FLAG_NAMES],
            pl.any_horizontal(*FLAG_NAMES).sum().cast(pl.Int64).alias("n_flagged"),
        )
        .sort(by)
    )


def sanitize_for_storage(text: str | None) -> str | None:
    """``text`` with each lone surrogate replaced by U+FFFD; everything else kept as is.

    Why: Parquet, DuckDB, SQLite and polars store UTF-8, and a lone surrogate (U+D800..U+DFFF,
    which JSON can carry as an escaped ``\\udXXX``) has no UTF-8 form, so polars refuses the whole
    frame. NUL bytes, U+FFFD and control characters do round-trip and stay (flagged, not erased).
    A well-formed surrogate pair left split in a Python str is joined into its character.
    """
    if text is None or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
