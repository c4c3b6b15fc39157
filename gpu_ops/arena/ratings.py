"""Expert ratings from pairwise battles: online Elo (the paper) and Bradley-Terry (MLE + bootstrap).

All ratings are on the Elo scale: P(A beats B) = 1 / (1 + base ** ((R_B - R_A) / scale)).

Battles are a DataFrame with columns model_a, model_b, winner ('model_a', 'model_b' or 'tie'),
an optional `weight` (a vote's mass, >= 0, fractional allowed; absent or null: 1) and an
optional `instruction_id` (the cluster a vote belongs to; null: the vote is its own cluster).
Bradley-Terry works on weighted *pair counts* (model_a, model_b, wins_a, wins_b, ties,
model_a < model_b): a million battles among 50 experts collapse to at most 1,225 rows, so a fit
takes milliseconds.

Confidence intervals come from a percentile bootstrap. Votes on one instruction are correlated
(several judges, both orders, one pair of responses), so by default the bootstrap resamples
*instructions* with all their votes (a cluster bootstrap); resampling single votes treats
correlated votes as independent and gives intervals that are too narrow. Without an
instruction_id column each vote is its own cluster.

Scale: votes are encoded once as small integer codes, one per distinct (pair, outcome, weight).
A bootstrap round draws how many times each code occurs (a sparse product over the drawn
clusters, or one multinomial for single votes); BT refits on the resulting cell weights and
Elo replays the codes in a random order with a compiled loop (`elo_replay`).

On a Ray cluster (`gpu_ops.cluster`) the rounds run as tasks and give the same numbers as one
process: BT's rounds are drawn in the driver, in order; each Elo round draws its resample and
its order from its own random stream (the seed and the round's index), so which node replays
which rounds changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import sparse

from gpu_ops.arena import elo_replay, rating_graph
from gpu_ops.cluster import map_batches, map_chunks
from gpu_ops.cluster.checkpoints import RowStore, content_key, resumable_rows
from gpu_ops.errors import InputError
from gpu_ops.frames import as_polars, require_columns

WINNERS = ("model_a", "model_b", "tie")
COUNT_COLUMNS = ("model_a", "model_b", "wins_a", "wins_b", "ties")
CLUSTER_COLUMN = "instruction_id"
LEADERBOARD_COLUMNS = (
    "expert",
    "method",
    "rating",
    "rating_online",
    "ci_lower",
    "ci_upper",
    "rank_ci",
    "games",
    "wins",
    "losses",
    "ties",
    "weighted_games",
    "win_rate",
    "record",
)
OPEN_ABOVE = ("undefeated", rating_graph.ABOVE, rating_graph.DETACHED)
OPEN_BELOW = ("winless", rating_graph.BELOW, rating_graph.DETACHED)
BootstrapUnit = Literal["instruction", "vote"]
SCORE_OF = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}
OUTCOME_OF = {"model_a": 0, "model_b": 1, "tie": 2}  # of the first-named expert: win, loss, tie
NAME_TYPES = (pl.String, pl.Categorical, pl.Enum, pl.Null)
# Rounds x positions held at once by the numpy Elo fallback (no numba): at most 512 MB.
_ELO_REPLAY_CELLS = 64_000_000


def win_probability(r_a: Any, r_b: Any, scale: float = 400, base: float = 10) -> Any:
    """P(A beats B) under the Elo/Bradley-Terry model; scalars or numpy arrays."""
    return 1.0 / (1.0 + np.power(base, (np.asarray(r_b) - np.asarray(r_a)) / scale))


def _check_unit(unit: str) -> None:
    if unit not in ("instruction", "vote"):
        raise InputError(f"bootstrap unit must be 'instruction' or 'vote', got {unit!r}")


def _check_names(frame: pl.DataFrame, what: str) -> None:
    """Expert names must be text: a number or NaN read as a name would be a phantom expert."""
    for column in ("model_a", "model_b"):
        series = frame[column]
        if not isinstance(series.dtype, NAME_TYPES):
            first = int(series.is_not_null().arg_true().first() or 0)
            raise InputError(
                f"{what}: {column} must hold expert names (strings), got {series.dtype} "
                f"(row {first + 1}: {series[first]!r})"
            )


def _check_total(total: float, what: str) -> None:
    if not math.isfinite(total):
        raise InputError(
            f"{what}: the total weight is not finite ({total}); rescale the weights so that "
            "their sum fits a float"
        )
    if total <= 0:
        raise InputError(f"{what}: the total weight is 0: no vote carries any weight to rate")


def validate_battles(battles: Any) -> pl.DataFrame:
    """Check a battles frame and return model_a, model_b, winner, weight [, instruction_id].

    Rejects missing columns, null or non-string names, null or unknown winners, self-play,
    weights that are negative or not finite, and a total weight that is 0 or not finite.
    A missing or null weight is 1; a null instruction_id makes the vote its own cluster.
    """
    frame = as_polars(battles, "battles")
    require_columns(frame, ("model_a", "model_b", "winner"), "battles")
    _check_names(frame, "battles")
    if "weight" in frame.columns:
        try:
            weight = frame["weight"].cast(pl.Float64).fill_null(1.0)
        except pl.exceptions.PolarsError as error:
            raise InputError(f"battles: weight column is not numeric: {error}") from None
    else:
        weight = pl.Series("weight", np.ones(frame.height), dtype=pl.Float64)
    columns = [
        frame["model_a"].cast(pl.String),
        frame["model_b"].cast(pl.String),
        frame["winner"].cast(pl.String),
        weight.alias("weight"),
    ]
    if CLUSTER_COLUMN in frame.columns:
        columns.append(frame[CLUSTER_COLUMN].cast(pl.String))
    out = pl.DataFrame(columns)
    if out.select(pl.any_horizontal(pl.col("model_a", "model_b", "winner").is_null()).any()).item():
        raise InputError("battles contain null model names or winners")
    bad = out.filter(~pl.col("winner").is_in(WINNERS))
    if bad.height:
        raise InputError(
            f"battles have winner values outside {WINNERS}: {bad['winner'].unique().to_list()[:5]}"
        )
    if out.filter(pl.col("model_a") == pl.col("model_b")).height:
        raise InputError("battles contain a model playing itself (model_a == model_b)")
    weights = out["weight"].to_numpy()
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise InputError("battles: every weight must be a finite number >= 0")
    if out.height:
        with np.errstate(over="ignore"):
            _check_total(float(weights.sum()), "battles")
    return out


def _is_counts(frame: pl.DataFrame) -> bool:
    return all(c in frame.columns for c in COUNT_COLUMNS)


# ---------------------------------------------------------------- encoded votes


@dataclass(frozen=True)
class _Votes:
    """Validated battles as integer codes (see the module docstring).

    Per vote: `code` (index into the code tables) and `cluster` (None: each vote its own).
    Per code: the pair (lo < hi expert indices), the outcome of lo (0 win, 1 loss, 2 tie) and
    the weight. Per observed pair: its experts.
    """

    experts: list[str]
    code: np.ndarray  # int32 per vote
    cluster: np.ndarray | None  # int64 per vote
    code_lo: np.ndarray
    code_hi: np.ndarray
    code_outcome: np.ndarray
    code_weight: np.ndarray
    code_pair: np.ndarray  # index into pair_lo / pair_hi
    pair_lo: np.ndarray
    pair_hi: np.ndarray

    @property
    def n_votes(self) -> int:
        return len(self.code)

    def code_counts(self) -> np.ndarray:
        return np.bincount(self.code, minlength=len(self.code_lo))

    def cells(self, counts: np.ndarray) -> np.ndarray:
        """Weighted (3, n_pairs) wins of lo | wins of hi | ties, from per-code vote counts."""
        n_pairs = len(self.pair_lo)
        flat = np.bincount(
            self.code_outcome * n_pairs + self.code_pair,
            weights=counts * self.code_weight,
            minlength=3 * n_pairs,
        )
        return flat.reshape(3, n_pairs)

    def content(self) -> list[object]:
        """Everything a resample depends on (the rows' content key of resumable rounds)."""
        cluster = self.cluster if self.cluster is not None else "no clusters"
        codes = [self.code_lo, self.code_hi, self.code_outcome, self.code_weight, self.code_pair]
        return [self.experts, self.code, cluster, *codes, self.pair_lo, self.pair_hi]

    def elo_tables(self, k: float) -> elo_replay.EloTables:
        return elo_replay.EloTables(
            a=self.code_lo.astype(np.int64),
            b=self.code_hi.astype(np.int64),
            score=np.array([1.0, 0.0, 0.5])[self.code_outcome],
            step=k * self.code_weight,
        )


def _dense_codes(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, index of each key among them): np.unique(return_inverse) without
    the sort when the key space is small (a few experts: a lookup table instead of a sort)."""
    if len(key) and int(key.max()) < 64_000_000:
        present = np.zeros(int(key.max()) + 1, dtype=bool)
        present[key] = True
        keys = np.flatnonzero(present)
        position = np.cumsum(present) - 1
        return keys, position[key]
    return np.unique(key, return_inverse=True)


def _encode(frame: pl.DataFrame, unit: BootstrapUnit = "instruction") -> _Votes:
    """Encode validated battles (see `validate_battles`)."""
    _check_unit(unit)
    names = pl.concat([frame["model_a"].unique(), frame["model_b"].unique()]).unique().sort()
    experts = names.to_list()
    kind = pl.Enum(names)
    a = frame["model_a"].cast(kind).to_physical().to_numpy().astype(np.int64)
    b = frame["model_b"].cast(kind).to_physical().to_numpy().astype(np.int64)
    outcome = frame["winner"].cast(pl.Enum(list(OUTCOME_OF))).to_physical().to_numpy()
    swap = a > b
    lo, hi = np.where(swap, b, a), np.where(swap, a, b)
    outcome = np.where(swap & (outcome < 2), 1 - outcome, outcome).astype(np.int64)
    weight = frame["weight"].to_numpy()
    weight_values = np.sort(pl.Series(weight).unique().to_numpy())
    weight_code = np.searchsorted(weight_values, weight)
    n = len(experts)
    key = ((lo * n + hi) * 3 + outcome) * len(weight_values) + weight_code
    keys, code = _dense_codes(key)
    code_weight = weight_values[keys % len(weight_values)]
    rest = keys // len(weight_values)
    code_outcome, pair_key = rest % 3, rest // 3
    pair_keys, code_pair = np.unique(pair_key, return_inverse=True)
    cluster = None
    if unit == "instruction" and CLUSTER_COLUMN in frame.columns:
        ids = frame[CLUSTER_COLUMN]
        cluster = ids.cast(pl.Categorical).to_physical().to_numpy().astype(np.float64)
        missing = np.isnan(cluster)  # a null id: the vote is its own cluster
        n_named = int(np.nanmax(cluster)) + 1 if (~missing).any() else 0
        cluster[missing] = n_named + np.arange(int(missing.sum()))
        cluster = cluster.astype(np.int64)
    return _Votes(
        experts=experts,
        code=code.astype(np.int32),
        cluster=cluster,
        code_lo=(pair_keys // n)[code_pair],
        code_hi=(pair_keys % n)[code_pair],
        code_outcome=code_outcome,
        code_weight=code_weight,
        code_pair=code_pair,
        pair_lo=pair_keys // n,
        pair_hi=pair_keys % n,
    )


def _round_counts(votes: _Votes, rounds: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Per bootstrap round, how many times each vote code occurs in the resample."""
    draw = _round_drawer(votes)
    for _ in range(rounds):
        yield draw(rng)


def _round_drawer(votes: _Votes) -> Callable[[np.random.Generator], np.ndarray]:
    """One round's draw: how many times each vote code occurs in a resample, from `rng`.

    Clusters: draw n_clusters clusters with replacement, then sum their codes (one sparse
    product). Single votes: resampling n votes with replacement is one multinomial draw over
    the codes (the same distribution, without touching every vote).
    """
    n_codes = len(votes.code_lo)
    if votes.cluster is None:
        probabilities = votes.code_counts() / max(votes.n_votes, 1)
        return lambda rng: rng.multinomial(votes.n_votes, probabilities)
    n_clusters = int(votes.cluster.max()) + 1
    per_cluster = sparse.csr_matrix(
        (np.ones(votes.n_votes), (votes.code.astype(np.int64), votes.cluster)),
        shape=(n_codes, n_clusters),
    )

    def draw(rng: np.random.Generator) -> np.ndarray:
        drawn = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
        return np.rint(per_cluster @ drawn).astype(np.int64)

    return draw


def _round_rng(seed: int, round_index: int) -> np.random.Generator:
    """Round `round_index`'s own random stream, from the seed and the index alone: a round's
    resample and order are the same whichever node runs it, in whatever order."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(round_index,)))


def bootstrap_unit_used(battles: Any, unit: BootstrapUnit = "instruction") -> BootstrapUnit:
    """The unit the bootstrap will resample for these battles ('vote' without instruction ids)."""
    _check_unit(unit)
    frame = as_polars(battles, "battles")
    if unit == "instruction" and CLUSTER_COLUMN in frame.columns and not _is_counts(frame):
        return "instruction"
    return "vote"


def pair_counts(battles_or_counts: Any) -> pl.DataFrame:
    """Collapse battles (or re-canonicalize counts) to one row per unordered pair.

    Output columns model_a, model_b, wins_a, wins_b, ties (weighted, Float64) with
    model_a < model_b, sorted. Accepts raw battles (with an optional `weight` column) or a counts
    frame such as the warehouse mart `rating_pair_counts`. Fractional weights are kept as they are.
    """
    return _pair_arrays(as_polars(battles_or_counts, "battles")).frame()


# ---------------------------------------------------------------- online Elo


def _online(votes: _Votes, *, k: float, initial: float, alpha: float) -> np.ndarray:
    """The single online pass in row order (compiled when numba is installed)."""
    start = np.full(len(votes.experts), float(initial))
    return elo_replay.replay(votes.code, votes.elo_tables(k), start, alpha=alpha)


def online_elo(
    battles: Any,
    *,
    k: float = 40,
    initial: float = 1000,
    scale: float = 400,
    base: float = 10,
) -> dict[str, float]:
    """The paper's online Elo, applied to the battles in their row order.

    Every expert starts at `initial`; per battle E_A = 1 / (1 + base ** ((R_B - R_A) / scale)),
    S_A in {1, 0.5, 0}, and both sides move by the same delta K * weight * (S_A - E_A) computed
    from the *pre-battle* ratings, so the total is conserved (zero-sum). With unit weights this is
    FastChat's `compute_elo`. The WarriorCoder reference script updates B with A's
    already-updated rating; that bug is deliberately not reproduced.
    The result depends on row order: sort the battles deterministically before calling.
    """
    frame = validate_battles(battles)
    if not frame.height:
        return {}
    votes = _encode(frame, "vote")
    ratings = _online(votes, k=k, initial=initial, alpha=math.log(base) / scale)
    return dict(zip(votes.experts, ratings.tolist(), strict=True))


def _elo_rounds(
    votes: _Votes,
    round_ids: Sequence[int],
    seed: int,
    *,
    k: float,
    initial: float,
    alpha: float,
    compiled: bool | None = None,
) -> np.ndarray:
    """(len(round_ids), n_experts) Elo ratings, each from a resample replayed in a random order.

    A round's sequence is its drawn codes repeated by their counts, shuffled, both from the
    round's own stream (`_round_rng`), so any subset of rounds computes each as the whole run
    would. With numba the rounds are replayed one by one; without it, in evenly sized chunks
    side by side.
    """
    tables = votes.elo_tables(k)
    start = np.full(len(votes.experts), float(initial))
    dtype = np.int16 if len(tables.a) < 2**15 else np.int32
    codes = np.arange(len(tables.a), dtype=dtype)
    draw = _round_drawer(votes)
    upcoming = iter(round_ids)
    rounds = len(round_ids)

    def next_sequence() -> np.ndarray:
        rng = _round_rng(seed, next(upcoming))
        sequence = np.repeat(codes, draw(rng))
        elo_replay.shuffle(sequence, rng)
        return sequence

    out = np.empty((rounds, len(votes.experts)))
    use_loop = compiled if compiled is not None else elo_replay.compiled_loop() is not None
    if use_loop:
        for row in range(rounds):
            out[row] = elo_replay.replay(
                next_sequence(), tables, start, alpha=alpha, compiled=compiled
            )
        return out
    chunk = max(1, _ELO_REPLAY_CELLS // max(votes.n_votes, 1))
    n_chunks = -(-rounds // chunk)
    first = 0
    for part in range(n_chunks):
        size = rounds // n_chunks + (part < rounds % n_chunks)
        batch = [next_sequence() for _ in range(size)]
        out[first : first + size] = elo_replay.replay_side_by_side(
            batch, tables, start, alpha=alpha
        )
        first += size
    return out


def _anchored(
    values: np.ndarray, experts: list[str], anchor: str | None, initial: float
) -> np.ndarray:
    """Shift ratings (last axis = experts) so that `anchor` sits at `initial`."""
    if anchor is None:
        return values
    if anchor not in experts:
        raise InputError(f"anchor expert {anchor!r} is not among the rated experts {experts}")
    position = experts.index(anchor)
    return values - values[..., position : position + 1] + initial


def _elo_table(
    votes: _Votes,
    *,
    rounds: int,
    seed: int,
    ci: float,
    k: float,
    initial: float,
    scale: float,
    base: float,
    anchor: str | None,
    store: RowStore | None = None,
) -> pl.DataFrame:
    if rounds < 0:
        raise InputError(f"rounds must be >= 0, got {rounds}")
    if not (math.isfinite(k) and k >= 0):
        raise InputError(f"Elo K must be a finite number >= 0, got {k}")
    lower, upper = _ci_bounds(ci)
    alpha = math.log(base) / scale
    experts = votes.experts
    point = _anchored(_online(votes, k=k, initial=initial, alpha=alpha), experts, anchor, initial)
    if rounds > 0 and votes.n_votes:
        replay = partial(_elo_rounds, votes, seed=seed, k=k, initial=initial, alpha=alpha)
        if store is None:
            samples = np.stack(map_batches(replay, range(rounds)))  # Ray tasks on a cluster
        else:  # finished rounds read back, the others committed part by part
            key = content_key("elo-rounds-v1", *votes.content(), k, initial, alpha, seed)
            samples = np.stack(resumable_rows(replay, rounds, store=store, key=key))
        samples = _anchored(samples, experts, anchor, initial)
        median = np.median(samples, axis=0)
        low = np.quantile(samples, lower, axis=0)
        high = np.quantile(samples, upper, axis=0)
    else:
        median = point
        low = high = np.full(len(experts), np.nan)
    return pl.DataFrame(
        {
            "expert": experts,
            "rating": median,
            "rating_online": point,
            "ci_lower": low,
            "ci_upper": high,
        },
        schema={
            "expert": pl.String,
            "rating": pl.Float64,
            "rating_online": pl.Float64,
            "ci_lower": pl.Float64,
            "ci_upper": pl.Float64,
        },
    )


def bootstrap_online_elo(
    battles: Any,
    *,
    rounds: int = 100,
    seed: int = 0,
    ci: float = 0.95,
    k: float = 40,
    initial: float = 1000,
    scale: float = 400,
    base: float = 10,
    anchor: str | None = None,
    unit: BootstrapUnit = "instruction",
) -> pl.DataFrame:
    """Online Elo with bootstrap CIs: columns expert, rating, rating_online, ci_lower, ci_upper.

    A round resamples the clusters (instructions, or single votes: see `unit`) with replacement
    and replays their battles in a random order, so the interval reflects sampling noise and
    Elo's order dependence. `rating` is the median over rounds (as FastChat reports it; it lies
    inside its own interval), `rating_online` the single pass in the given row order (the paper's
    number). With rounds=0, `rating` is the online value and the bounds are NaN. `anchor` shifts
    every rating so that this expert sits at `initial`.
    """
    _check_unit(unit)
    frame = validate_battles(battles)
    if not frame.height:
        raise InputError("nothing to rate: no battles were given")
    return _elo_table(
        _encode(frame, unit),
        rounds=rounds,
        seed=seed,
        ci=ci,
        k=k,
        initial=initial,
        scale=scale,
        base=base,
        anchor=anchor,
    )


# ---------------------------------------------------------------- Bradley-Terry


@dataclass(frozen=True)
class _PairArrays:
    """Weighted pair counts as index arrays (idx_a < idx_b); ties count half a win each side."""

    experts: list[str]
    idx_a: np.ndarray
    idx_b: np.ndarray
    wins_a: np.ndarray
    wins_b: np.ndarray
    ties: np.ndarray
    votes: _Votes | None  # the encoded battles, None for a counts frame

    def cells(self) -> np.ndarray:
        return np.concatenate([self.wins_a, self.wins_b, self.ties])

    def frame(self) -> pl.DataFrame:
        names = np.array(self.experts, dtype=object)
        return pl.DataFrame(
            {
                "model_a": names[self.idx_a].tolist(),
                "model_b": names[self.idx_b].tolist(),
                "wins_a": self.wins_a,
                "wins_b": self.wins_b,
                "ties": self.ties,
            },
            schema={
                "model_a": pl.String,
                "model_b": pl.String,
                "wins_a": pl.Float64,
                "wins_b": pl.Float64,
                "ties": pl.Float64,
            },
        )


def _counts_arrays(frame: pl.DataFrame) -> _PairArrays:
    """A counts frame (e.g. the `rating_pair_counts` mart), checked and summed per pair."""
    _check_names(frame, "pair counts")
    counts = frame.select(
        pl.col("model_a").cast(pl.String),
        pl.col("model_b").cast(pl.String),
        *(pl.col(c).cast(pl.Float64) for c in ("wins_a", "wins_b", "ties")),
    )
    if counts.select(pl.any_horizontal(pl.all().is_null()).any()).item():
        raise InputError("pair counts contain nulls")
    if counts.filter(pl.col("model_a") == pl.col("model_b")).height:
        raise InputError("pair counts contain a model playing itself")
    values = counts.select("wins_a", "wins_b", "ties").to_numpy()
    if not np.isfinite(values).all() or (values < 0).any():
        raise InputError("pair counts must be finite and non-negative")
    if counts.height:
        with np.errstate(over="ignore"):
            _check_total(float(values.sum()), "pair counts")
    swap = pl.col("model_a") > pl.col("model_b")
    summed = (
        counts.select(
            pl.when(swap).then("model_b").otherwise("model_a").alias("model_a"),
            pl.when(swap).then("model_a").otherwise("model_b").alias("model_b"),
            pl.when(swap).then("wins_b").otherwise("wins_a").alias("wins_a"),
            pl.when(swap).then("wins_a").otherwise("wins_b").alias("wins_b"),
            "ties",
        )
        .group_by("model_a", "model_b")
        .agg(pl.col("wins_a").sum(), pl.col("wins_b").sum(), pl.col("ties").sum())
        .sort("model_a", "model_b")
    )
    experts = sorted(set(summed["model_a"].to_list()) | set(summed["model_b"].to_list()))
    kind = pl.Enum(experts)
    return _PairArrays(
        experts=experts,
        idx_a=summed["model_a"].cast(kind).to_physical().to_numpy().astype(np.int64),
        idx_b=summed["model_b"].cast(kind).to_physical().to_numpy().astype(np.int64),
        wins_a=summed["wins_a"].to_numpy().astype(np.float64),
        wins_b=summed["wins_b"].to_numpy().astype(np.float64),
        ties=summed["ties"].to_numpy().astype(np.float64),
        votes=None,
    )


def _votes_arrays(votes: _Votes) -> _PairArrays:
    wins_a, wins_b, ties = votes.cells(votes.code_counts())
    return _PairArrays(
        experts=votes.experts,
        idx_a=votes.pair_lo,
        idx_b=votes.pair_hi,
        wins_a=wins_a,
        wins_b=wins_b,
        ties=ties,
        votes=votes,
    )


def _pair_arrays(frame: pl.DataFrame, unit: BootstrapUnit = "instruction") -> _PairArrays:
    if _is_counts(frame):
        return _counts_arrays(frame)
    return _votes_arrays(_encode(validate_battles(frame), unit))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


# Up to this many experts BT is fitted by Newton's method (an n x n solve per step); beyond,
# by scipy's L-BFGS. Newton needs no scipy.optimize import (a second of a short CLI run).
_NEWTON_MAX_EXPERTS = 400


def _fit_strengths(
    idx_a: np.ndarray,
    idx_b: np.ndarray,
    weight_a: np.ndarray,
    weight_b: np.ndarray,
    n_models: int,
    *,
    l2: float,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Natural-log BT strengths maximizing the weighted likelihood; mean-zero by the L2 term.

    Loss = -(1/N) sum [w_a log sigmoid(s_a - s_b) + w_b log sigmoid(s_b - s_a)] + l2 * |s|^2.
    The tiny L2 pins the free additive constant at mean zero and keeps strengths finite when an
    expert won (or lost) every game. The loss is strictly convex: Newton's method with a
    backtracking line search, or L-BFGS for many experts, reaches the same minimum.
    """
    total = float(weight_a.sum() + weight_b.sum())
    if total <= 0:
        return np.zeros(n_models)
    games = weight_a + weight_b

    def loss(s: np.ndarray) -> float:
        d = s[idx_a] - s[idx_b]
        nll = -(weight_a @ _log_sigmoid(d) + weight_b @ _log_sigmoid(-d)) / total
        return float(nll + l2 * (s @ s))

    def gradient(s: np.ndarray, p: np.ndarray) -> np.ndarray:
        g_d = (games * p - weight_a) / total
        grad = np.bincount(idx_a, g_d, n_models) - np.bincount(idx_b, g_d, n_models)
        return grad + 2.0 * l2 * s

    x = np.zeros(n_models) if start is None else np.array(start, dtype=np.float64)
    if n_models > _NEWTON_MAX_EXPERTS:
        from scipy.optimize import minimize

        def loss_and_grad(s: np.ndarray) -> tuple[float, np.ndarray]:
            return loss(s), gradient(s, _sigmoid(s[idx_a] - s[idx_b]))

        options = {"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-15}
        return minimize(loss_and_grad, x, jac=True, method="L-BFGS-B", options=options).x
    current = loss(x)
    for _ in range(500):
        p = _sigmoid(x[idx_a] - x[idx_b])
        grad = gradient(x, p)
        if np.abs(grad).max() < 1e-12:
            break
        curvature = games * p * (1.0 - p) / total
        hessian = np.diag(2.0 * l2 + np.bincount(idx_a, curvature, n_models))
        hessian += np.diag(np.bincount(idx_b, curvature, n_models))
        np.add.at(hessian, (idx_a, idx_b), -curvature)
        np.add.at(hessian, (idx_b, idx_a), -curvature)
        step = np.linalg.solve(hessian, -grad)
        rate = 1.0
        while rate > 1e-10:  # Armijo backtracking: far from the optimum a full step can overshoot
            trial = x + rate * step
            trial_loss = loss(trial)
            if trial_loss <= current + 1e-4 * rate * float(grad @ step):
                break
            rate *= 0.5
        if trial_loss >= current and rate <= 1e-10:
            break
        x, current = trial, trial_loss
    return x


def _to_elo(
    strengths: np.ndarray,
    experts: list[str],
    *,
    scale: float,
    base: float,
    initial: float,
    anchor: str | None,
) -> np.ndarray:
    """Natural-log strengths -> Elo points, mean `initial` or the anchor expert at `initial`."""
    points = strengths * scale / math.log(base)
    if not experts:
        return points
    if anchor is None:
        return points - points.mean() + initial
    if anchor not in experts:
        raise InputError(f"anchor expert {anchor!r} is not among the rated experts {experts}")
    return points - points[experts.index(anchor)] + initial


def fit_bradley_terry(
    counts: Any,
    *,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: str | None = None,
    l2: float = 1e-8,
) -> dict[str, float]:
    """Bradley-Terry ratings by maximum likelihood on pair counts (ties = half a win each side).

    Accepts pair counts (e.g. the `rating_pair_counts` mart) or raw battles. Fitted by Newton's
    method (L-BFGS for many experts); ratings are in Elo points with mean `initial`, or with
    `anchor`'s rating fixed at `initial`. `l2` is per game and tiny: it only fixes identifiability.
    """
    pairs = _pair_arrays(as_polars(counts, "battles"))
    strengths = _fit_strengths(
        pairs.idx_a,
        pairs.idx_b,
        pairs.wins_a + 0.5 * pairs.ties,
        pairs.wins_b + 0.5 * pairs.ties,
        len(pairs.experts),
        l2=l2,
    )
    elo = _to_elo(strengths, pairs.experts, scale=scale, base=base, initial=initial, anchor=anchor)
    return dict(zip(pairs.experts, elo.tolist(), strict=True))


def _ci_bounds(ci: float) -> tuple[float, float]:
    if not 0 < ci < 1:
        raise InputError(f"ci must be in (0, 1), got {ci}")
    return (1 - ci) / 2, 1 - (1 - ci) / 2


def _cell_draws(pairs: _PairArrays, rounds: int, seed: int) -> Iterator[np.ndarray]:
    """Per round, resampled cell weights in the order wins_a | wins_b | ties.

    Counts frames are resampled vote by vote: one multinomial draw over the (pair, outcome)
    cells per round (fractional counts are drawn on the rounded total and rescaled). Raw battles
    are resampled by cluster or by vote (`_round_counts`).
    """
    rng = np.random.default_rng(seed)
    if pairs.votes is None:
        cells = pairs.cells()
        total = float(cells.sum())
        draws = max(round(total), 1)
        for _ in range(rounds):
            yield rng.multinomial(draws, cells / total) * (total / draws)
        return
    for counts in _round_counts(pairs.votes, rounds, rng):
        yield pairs.votes.cells(counts).ravel()


def _bt_table(
    pairs: _PairArrays,
    *,
    rounds: int,
    seed: int,
    ci: float,
    scale: float,
    base: float,
    initial: float,
    anchor: str | None,
    l2: float,
    store: RowStore | None = None,
) -> pl.DataFrame:
    if rounds < 0:
        raise InputError(f"rounds must be >= 0, got {rounds}")
    lower, upper = _ci_bounds(ci)
    n_models = len(pairs.experts)

    def fit(cell_weights: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        wins_a, wins_b, ties = np.split(np.asarray(cell_weights, dtype=np.float64), 3)
        return _fit_strengths(
            pairs.idx_a,
            pairs.idx_b,
            wins_a + 0.5 * ties,
            wins_b + 0.5 * ties,
            n_models,
            l2=l2,
            start=start,
        )

    def to_elo(strengths: np.ndarray) -> np.ndarray:
        return _to_elo(
            strengths, pairs.experts, scale=scale, base=base, initial=initial, anchor=anchor
        )

    full = fit(pairs.cells(), None)
    point = to_elo(full)
    if rounds and float(pairs.cells().sum()) > 0:
        draws = _cell_draws(pairs, rounds, seed)  # drawn here, in order: the same on any node
        if store is None:
            samples = np.stack(map_chunks(lambda draw: to_elo(fit(draw, full)), draws))  # Ray
        else:  # finished rounds read back, the others committed part by part
            drawn = list(draws)
            votes = pairs.votes.content() if pairs.votes is not None else ["counts"]
            key = content_key(
                "bt-rounds-v1", pairs.experts, pairs.idx_a, pairs.idx_b, pairs.cells(), *votes,
                scale, base, initial, anchor, l2, seed,
            )  # fmt: skip
            samples = np.stack(
                resumable_rows(
                    lambda part: [to_elo(fit(draw, full)) for draw in part],
                    rounds,
                    store=store,
                    key=key,
                    items=lambda indices: [drawn[i] for i in indices],
                )
            )
        low = np.quantile(samples, lower, axis=0)
        high = np.quantile(samples, upper, axis=0)
    else:
        low = high = np.full(n_models, np.nan)
    return pl.DataFrame(
        {"expert": pairs.experts, "rating": point, "ci_lower": low, "ci_upper": high},
        schema={
            "expert": pl.String,
            "rating": pl.Float64,
            "ci_lower": pl.Float64,
            "ci_upper": pl.Float64,
        },
    )


def bootstrap_bradley_terry(
    battles_or_counts: Any,
    *,
    rounds: int = 100,
    seed: int = 0,
    ci: float = 0.95,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: str | None = None,
    l2: float = 1e-8,
    unit: BootstrapUnit = "instruction",
) -> pl.DataFrame:
    """BT ratings with percentile bootstrap CIs: columns expert, rating, ci_lower, ci_upper.

    `rating` is the maximum-likelihood fit on all the (weighted) votes. Each round refits on a
    resample: of instructions with all their votes (`unit='instruction'`, when the battles carry
    an instruction_id), else of single votes. Pair counts can only be resampled vote by vote.
    Each round's fit is warm-started from the full fit. An expert absent from a resample sits
    at the mean.
    """
    _check_unit(unit)
    pairs = _pair_arrays(as_polars(battles_or_counts, "battles"), unit)
    return _bt_table(
        pairs,
        rounds=rounds,
        seed=seed,
        ci=ci,
        scale=scale,
        base=base,
        initial=initial,
        anchor=anchor,
        l2=l2,
    )


# ---------------------------------------------------------------- leaderboard


def _whole_or_null(values: np.ndarray) -> list[int | None]:
    return [int(v) if float(v).is_integer() else None for v in values]


def _records(pairs: _PairArrays) -> pl.DataFrame:
    """Per expert: vote counts (integers), weighted_games, win_rate and the individual record."""
    n = len(pairs.experts)
    unweighted = None
    if pairs.votes is not None:  # the same cells, each vote counted once
        votes = pairs.votes
        unweighted = np.bincount(
            votes.code_outcome * len(votes.pair_lo) + votes.code_pair,
            weights=votes.code_counts().astype(np.float64),
            minlength=3 * len(votes.pair_lo),
        ).reshape(3, -1)

    def per_expert(lo_wins: np.ndarray, hi_wins: np.ndarray, ties: np.ndarray) -> np.ndarray:
        wins = np.bincount(pairs.idx_a, lo_wins, n) + np.bincount(pairs.idx_b, hi_wins, n)
        losses = np.bincount(pairs.idx_a, hi_wins, n) + np.bincount(pairs.idx_b, lo_wins, n)
        drawn = np.bincount(pairs.idx_a, ties, n) + np.bincount(pairs.idx_b, ties, n)
        return np.stack([wins, losses, drawn])

    weighted = per_expert(pairs.wins_a, pairs.wins_b, pairs.ties)
    counts = per_expert(*unweighted) if unweighted is not None else weighted
    wins, losses, ties = weighted
    games = weighted.sum(axis=0)
    record = np.where(
        (wins > 0) & (losses + ties == 0),
        "undefeated",
        np.where((losses > 0) & (wins + ties == 0), "winless", ""),
    )
    return pl.DataFrame(
        {
            "expert": pairs.experts,
            "games": _whole_or_null(counts.sum(axis=0)),
            "wins": _whole_or_null(counts[0]),
            "losses": _whole_or_null(counts[1]),
            "ties": _whole_or_null(counts[2]),
            "weighted_games": games,
            "win_rate": np.divide(
                wins + 0.5 * ties, games, out=np.full(n, np.nan), where=games > 0
            ),
            "record": [r or None for r in record.tolist()],
        },
        schema={
            "expert": pl.String,
            "games": pl.Int64,
            "wins": pl.Int64,
            "losses": pl.Int64,
            "ties": pl.Int64,
            "weighted_games": pl.Float64,
            "win_rate": pl.Float64,
            "record": pl.String,
        },
    )


def expert_records(battles_or_counts: Any) -> pl.DataFrame:
    """Per expert: games, wins, losses, ties (vote counts), weighted_games (their total weight),
    win_rate = (wins + ties / 2) / games by weight, and `record` (see `leaderboard`).

    A counts frame has no votes to count: its counts are given where they are whole numbers.
    """
    pairs = _pair_arrays(as_polars(battles_or_counts, "battles"))
    return _with_graph_flags(
        _records(pairs),
        rating_graph.analyse(
            pairs.experts, pairs.idx_a, pairs.idx_b, pairs.wins_a, pairs.wins_b, pairs.ties
        ),
    )


def _with_graph_flags(records: pl.DataFrame, report: rating_graph.GraphReport) -> pl.DataFrame:
    """`record`: the expert's own record ('undefeated', 'winless'), else its group's flag."""
    flags = pl.DataFrame(
        {"expert": list(report.flags), "group_flag": list(report.flags.values())},
        schema={"expert": pl.String, "group_flag": pl.String},
    )
    return (
        records.join(flags, on="expert", how="left")
        .with_columns(record=pl.coalesce("record", "group_flag"))
        .drop("group_flag")
        .sort("expert")
    )


def _open_bounds(table: pl.DataFrame) -> pl.DataFrame:
    """No data bounds an undefeated expert (or group) from above, or a winless one from below.

    Its maximum-likelihood strength is infinite; the finite rating left by the tiny L2 term (or
    by online Elo) is a floor (a ceiling), so the open side of its interval is infinite.
    """
    return table.with_columns(
        ci_upper=pl.when(pl.col("record").is_in(OPEN_ABOVE))
        .then(float("inf"))
        .otherwise("ci_upper"),
        ci_lower=pl.when(pl.col("record").is_in(OPEN_BELOW))
        .then(float("-inf"))
        .otherwise("ci_lower"),
    )


def _rank_ci(table: pl.DataFrame) -> pl.DataFrame:
    """rank_ci: 1 + the number of experts (same method) whose lower bound exceeds this one's
    upper bound, as Chatbot Arena ranks ("how many are surely better"). Null without bounds."""
    ranks = []
    for _, rows in table.group_by("method", maintain_order=True):
        lower = rows["ci_lower"].to_numpy()
        upper = rows["ci_upper"].to_numpy()
        better = (lower[None, :] > upper[:, None]).sum(axis=1) + 1
        known = ~np.isnan(upper)
        ranks.append(
            rows.select("expert", "method").with_columns(
                rank_ci=pl.Series(
                    [int(r) if ok else None for r, ok in zip(better, known, strict=True)],
                    dtype=pl.Int64,
                )
            )
        )
    return table.join(pl.concat(ranks), on=["expert", "method"], how="left")


def record_warnings(table: Any) -> list[str]:
    """One warning per flagged expert (undefeated, winless) or group of a leaderboard table."""
    frame = as_polars(table, "leaderboard")
    require_columns(frame, ("expert", "record", "games"), "leaderboard")
    flagged = frame.filter(pl.col("record").is_not_null()).unique("expert", keep="first")
    messages = []
    for row in (
        flagged.filter(pl.col("record").is_in(["undefeated", "winless"]))
        .sort("expert")
        .iter_rows(named=True)
    ):
        side = "won" if row["record"] == "undefeated" else "lost"
        bound = "upper" if row["record"] == "undefeated" else "lower"
        messages.append(
            f"expert {row['expert']!r} is {row['record']}: it {side} all {row['games']} of its "
            f"votes, so the data cannot bound its rating; its rating is a "
            f"{'floor' if side == 'won' else 'ceiling'} and its interval's {bound} bound is infinite"
        )
    explain = {
        rating_graph.ABOVE: "never lost nor tied against the strongly connected core of the "
        "other experts (Zermelo's condition fails): no rating bounds them from above; their "
        "ratings are floors and their intervals' upper bounds are infinite",
        rating_graph.BELOW: "never won nor tied against the strongly connected core of the "
        "other experts (Zermelo's condition fails): no rating bounds them from below; their "
        "ratings are ceilings and their intervals' lower bounds are infinite",
        rating_graph.DETACHED: "are compared with the core of the other experts only through "
        "experts that are themselves unbounded: their ratings are not bounded either way",
    }
    for flag, text in explain.items():
        names = sorted(flagged.filter(pl.col("record") == flag)["expert"].to_list())
        if names:
            messages.append(f"experts {names} are {flag}: they {text}")
    return messages


def check_connected(report: rating_graph.GraphReport, allow_disconnected: bool) -> None:
    """Refuse to put groups that never met on one scale unless asked (allow_disconnected)."""
    if len(report.components) > 1 and not allow_disconnected:
        raise InputError(
            f"the battles form {len(report.components)} groups of experts that never met, "
            f"directly or through others: {rating_graph.describe_components(report.components)}; "
            "ratings of different groups share no scale (any offset between them fits the votes "
            "equally well). Rate each group on its own, or allow it explicitly "
            "(allow_disconnected=True; `warriorcoder rate --allow-disconnected`) to show them "
            "on one scale with an arbitrary offset"
        )


def comparison_components(battles_or_counts: Any) -> list[list[str]]:
    """The groups of experts connected by votes (largest first); one group when all met."""
    pairs = _pair_arrays(as_polars(battles_or_counts, "battles"))
    return rating_graph.analyse(
        pairs.experts, pairs.idx_a, pairs.idx_b, pairs.wins_a, pairs.wins_b, pairs.ties
    ).components


def leaderboard(
    battles_or_counts: Any,
    *,
    method: Literal["bt", "elo", "both"] = "bt",
    bootstrap_rounds: int = 100,
    elo_bootstrap_rounds: int | None = None,
    seed: int = 0,
    ci: float = 0.95,
    k: float = 40,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: str | None = None,
    unit: BootstrapUnit = "instruction",
    allow_disconnected: bool = False,
    round_store: RowStore | None = None,
) -> pl.DataFrame:
    """The `leaderboard` lake table: one row per expert and method, best first.

    Columns LEADERBOARD_COLUMNS. BT's `rating` is the maximum-likelihood fit (`rating_online`
    null); Elo's `rating` is the bootstrap median and `rating_online` the single pass in row
    order. BT accepts raw battles or pair counts; Elo needs raw battles in a fixed order and gets
    its CIs from `elo_bootstrap_rounds` (default: `bootstrap_rounds`) resampled, reshuffled
    replays. `unit` picks what the bootstrap resamples (instructions by default, when the
    battles carry an instruction_id). `anchor` fixes that expert at `initial` in both methods.
    `rank_ci` is 1 + the number of experts whose interval lies wholly above this one's.
    `record` flags what the votes cannot rate: 'undefeated' / 'winless' (the expert's own
    record), 'undefeated-group' / 'winless-group' / 'unanchored-group' (outside the strongly
    connected core, see `rating_graph`), with the open side of the interval infinite (see
    `record_warnings`). Experts in groups that never met are refused unless
    `allow_disconnected`. With a `round_store` (`gpu_ops.cluster.checkpoints`) each finished
    bootstrap round is committed as its part returns and read back by a rerun, which computes
    only the rounds a killed driver had not finished (the same numbers either way).
    """
    if method not in ("bt", "elo", "both"):
        raise InputError(f"method must be 'bt', 'elo' or 'both', got {method!r}")
    _check_unit(unit)
    _ci_bounds(ci)
    frame = as_polars(battles_or_counts, "battles")
    if frame.height == 0:
        raise InputError("nothing to rate: no battles (or pair counts) were given")
    if method in ("elo", "both") and _is_counts(frame):
        raise InputError("online Elo needs ordered battles (model_a, model_b, winner), not counts")
    pairs = _pair_arrays(frame, unit)
    report = rating_graph.analyse(
        pairs.experts, pairs.idx_a, pairs.idx_b, pairs.wins_a, pairs.wins_b, pairs.ties
    )
    check_connected(report, allow_disconnected)
    records = _with_graph_flags(_records(pairs), report)
    tables = []
    if method in ("bt", "both"):
        bt = _bt_table(
            pairs,
            rounds=bootstrap_rounds,
            seed=seed,
            ci=ci,
            scale=scale,
            base=base,
            initial=initial,
            anchor=anchor,
            l2=1e-8,
            store=round_store,
        )
        tables.append(bt.with_columns(method=pl.lit("bt"), rating_online=pl.lit(None, pl.Float64)))
    if method in ("elo", "both"):
        elo = _elo_table(
            pairs.votes,  # type: ignore[arg-type]  # counts were refused above
            rounds=bootstrap_rounds if elo_bootstrap_rounds is None else elo_bootstrap_rounds,
            seed=seed,
            ci=ci,
            k=k,
            initial=initial,
            scale=scale,
            base=base,
            anchor=anchor,
            store=round_store,
        )
        tables.append(elo.with_columns(method=pl.lit("elo")))
    table = _open_bounds(pl.concat(tables, how="diagonal").join(records, on="expert", how="left"))
    return (
        _rank_ci(table)
        .select(LEADERBOARD_COLUMNS)
        .sort(["method", "rating", "expert"], descending=[False, True, False])
    )


def ratings_from_leaderboard(table: Any, method: str = "bt") -> dict[str, float]:
    """{expert: rating} for one method of a leaderboard table (input of winner selection).

    `method` is 'bt', 'elo' (Elo's bootstrap median) or 'elo_online' (Elo's single online pass,
    the number the paper's script computes).
    """
    frame = as_polars(table, "leaderboard")
    column = "rating_online" if method == "elo_online" else "rating"
    require_columns(frame, ("expert", "method", column), "leaderboard")
    rows = frame.filter(pl.col("method") == method.removesuffix("_online"))
    if not rows.height:
        raise InputError(f"leaderboard has no rows for method {method!r}")
    return dict(zip(rows["expert"].to_list(), rows[column].to_list(), strict=True))


def ratings_table(ratings: Mapping[str, float]) -> pl.DataFrame:
    """{expert: rating} as a sorted two-column frame (for printing)."""
    items = sorted(ratings.items(), key=lambda kv: (-kv[1], kv[0]))
    return pl.DataFrame(
        {"expert": [e for e, _ in items], "rating": [r for _, r in items]},
        schema={"expert": pl.String, "rating": pl.Float64},
    )
