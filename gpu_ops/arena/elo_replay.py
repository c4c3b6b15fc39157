"""Online Elo replays of long vote sequences: a compiled loop when numba is installed.

Why a module of its own: the Elo bootstrap replays every resampled vote sequence in order, and
100 rounds of 10M votes are 10^9 sequential updates. numba compiles the loop below to a few
nanoseconds per update. Without numba the same loop runs in Python for a single pass, and the
bootstrap steps all rounds of a chunk side by side with one numpy operation per position
(correct, but about 100x slower at scale).

Votes are given as codes into small tables (`EloTables`): a code is one (expert a, expert b,
score of a, K x weight) combination, so a sequence is a compact integer array and each update
reads the tables from cache.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EloTables:
    """Per vote code: the two experts, the score of `a` (1, 0.5, 0) and the step K x weight."""

    a: np.ndarray  # int64
    b: np.ndarray  # int64
    score: np.ndarray  # float64
    step: np.ndarray  # float64

    def padded(self) -> EloTables:
        """The tables plus one last code that changes nothing (step 0), for padding."""
        return EloTables(
            a=np.append(self.a, 0),
            b=np.append(self.b, 0),
            score=np.append(self.score, 0.5),
            step=np.append(self.step, 0.0),
        )


def _replay_loop(
    sequence: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    step: np.ndarray,
    ratings: np.ndarray,
    alpha: float,
) -> None:
    """Apply the votes of `sequence` in order to `ratings` (in place), from pre-vote ratings."""
    for t in range(sequence.shape[0]):
        code = sequence[t]
        i = a[code]
        j = b[code]
        r_i = ratings[i]
        r_j = ratings[j]
        expected = 1.0 / (1.0 + math.exp(alpha * (r_j - r_i)))
        delta = step[code] * (score[code] - expected)
        ratings[i] = r_i + delta
        ratings[j] = r_j - delta


def _shuffle_loop(sequence: np.ndarray, uniforms: np.ndarray) -> None:
    """Fisher-Yates shuffle of `sequence` in place, position t swapped with floor(u_t (t + 1))."""
    for t in range(sequence.shape[0] - 1, 0, -1):
        j = min(int(uniforms[t] * (t + 1)), t)
        held = sequence[t]
        sequence[t] = sequence[j]
        sequence[j] = held


@functools.cache
def _compiled(name: str) -> Callable[..., None] | None:
    """The numba-compiled loop `name`, or None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(cache=True, nogil=True)(
        {"replay": _replay_loop, "shuffle": _shuffle_loop}[name]
    )


def compiled_loop() -> Callable[..., None] | None:
    """The compiled replay loop, or None when numba is not installed."""
    return _compiled("replay")


def shuffle(sequence: np.ndarray, rng: np.random.Generator) -> None:
    """Shuffle `sequence` in place with uniforms drawn from `rng`.

    The same permutation with or without numba (the uniforms decide it), so a seed gives the
    same bootstrap either way; numpy's own shuffle is about 5x slower than the compiled loop.
    """
    uniforms = rng.random(len(sequence))
    loop = _compiled("shuffle") or _shuffle_loop
    loop(sequence, uniforms)


def replay(
    sequence: np.ndarray,
    tables: EloTables,
    start: np.ndarray,
    *,
    alpha: float,
    compiled: bool | None = None,
) -> np.ndarray:
    """Ratings after replaying `sequence` (vote codes) from `start`; compiled when available.

    compiled=None uses numba when it is installed; False forces the Python loop.
    """
    ratings = np.array(start, dtype=np.float64)
    loop = compiled_loop() if compiled is not False else None
    if compiled and loop is None:
        raise RuntimeError("numba is not installed")
    run = loop if loop is not None else _replay_loop
    run(sequence, tables.a, tables.b, tables.score, tables.step, ratings, alpha)
    return ratings


def replay_side_by_side(
    sequences: list[np.ndarray], tables: EloTables, start: np.ndarray, *, alpha: float
) -> np.ndarray:
    """(len(sequences), n_models) ratings: position t of every sequence is one numpy step.

    The numpy fallback of the bootstrap. Shorter sequences are padded with a vote of step 0.
    """
    padded = tables.padded()
    pad = len(padded.a) - 1
    longest = max((len(s) for s in sequences), default=0)
    picks = np.full((len(sequences), longest), pad, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        picks[row, : len(sequence)] = sequence
    ratings = np.tile(np.asarray(start, dtype=np.float64), (len(sequences), 1))
    lanes = np.arange(len(sequences))
    for t in range(longest):
        pick = picks[:, t]
        i, j = padded.a[pick], padded.b[pick]
        r_i, r_j = ratings[lanes, i], ratings[lanes, j]
        expected = 1.0 / (1.0 + np.exp(alpha * (r_j - r_i)))
        delta = padded.step[pick] * (padded.score[pick] - expected)
        ratings[lanes, i] = r_i + delta
        ratings[lanes, j] = r_j - delta
    return ratings
