"""Expert ratings from pairwise battles: online Elo (the paper) and Bradley-Terry (MLE + bootstrap).

All ratings are on the Elo scale: P(A beats B) = 1 / (1 + base ** ((R_B - R_A) / scale)).

Battles are a DataFrame with columns model_a, model_b, winner ('model_a', 'model_b' or 'tie'),
an optional `weight` (a vote's mass, >= 0, fractional allowed; default 1) and an optional
`instruction_id` (the cluster a vote belongs to). Bradley-Terry works on weighted *pair counts*
(model_a, model_b, wins_a, wins_b, ties, model_a < model_b): a million battles among 50 experts
collapse to at most 1,225 rows, so a fit takes milliseconds.

Confidence intervals come from a percentile bootstrap. Votes on one instruction are correlated
(several judges, both orders, one pair of responses), so by default the bootstrap resamples
*instructions* with all their votes (a cluster bootstrap); resampling single votes treats
correlated votes as independent and gives intervals that are too narrow. Without an
instruction_id column each vote is its own cluster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from gpu_ops.cluster import map_chunks
from gpu_ops.errors import InputError

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
    "games",
    "wins",
    "losses",
    "ties",
    "win_rate",
    "record",
)
BootstrapUnit = Literal["instruction", "vote"]
SCORE_OF = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}
# Rounds x positions held at once by the Elo replay (int32 indices): at most 256 MB.
_ELO_REPLAY_CELLS = 64_000_000


def win_probability(r_a: Any, r_b: Any, scale: float = 400, base: float = 10) -> Any:
    """P(A beats B) under the Elo/Bradley-Terry model; scalars or numpy arrays."""
    return 1.0 / (1.0 + np.power(base, (np.asarray(r_b) - np.asarray(r_a)) / scale))


def _as_polars(frame: Any, what: str) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.startswith("pandas"):
        return pl.from_pandas(frame)
    raise InputError(f"{what} must be a polars or pandas DataFrame, got {type(frame).__name__}")


def _require_columns(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} is missing column(s) {missing}; it has {frame.columns}")


def _check_unit(unit: str) -> None:
    if unit not in ("instruction", "vote"):
        raise InputError(f"bootstrap unit must be 'instruction' or 'vote', got {unit!r}")


def validate_battles(battles: Any) -> pl.DataFrame:
    """Check a battles frame and return model_a, model_b, winner, weight [, instruction_id].

    Rejects missing columns, nulls, unknown winners, self-play, and weights that are null,
    negative or not finite. A frame without `weight` gets weight 1 for every vote.
    """
    frame = _as_polars(battles, "battles")
    _require_columns(frame, ("model_a", "model_b", "winner"), "battles")
    if "weight" in frame.columns:
        try:
            weight = frame["weight"].cast(pl.Float64)
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
    if out.select(pl.any_horizontal(pl.all().is_null()).any()).item():
        raise InputError("battles contain null model names, winners, weights or instruction ids")
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
    return out


def _is_counts(frame: pl.DataFrame) -> bool:
    return all(c in frame.columns for c in COUNT_COLUMNS)


def _canonical_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Validated battles turned so that model_a < model_b (the winner turned with them)."""
    swap = pl.col("model_a") > pl.col("model_b")
    turned = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}
    return frame.with_columns(
        pl.when(swap).then("model_b").otherwise("model_a").alias("model_a"),
        pl.when(swap).then("model_a").otherwise("model_b").alias("model_b"),
        pl.when(swap)
        .then(pl.col("winner").replace_strict(turned))
        .otherwise("winner")
        .alias("winner"),
    )


def pair_counts(battles_or_counts: Any) -> pl.DataFrame:
    """Collapse battles (or re-canonicalize counts) to one row per unordered pair.

    Output columns model_a, model_b, wins_a, wins_b, ties (weighted, Float64) with
    model_a < model_b, sorted. Accepts raw battles (with an optional `weight` column) or a counts
    frame such as the warehouse mart `rating_pair_counts`. Fractional weights are kept as they are.
    """
    frame = _as_polars(battles_or_counts, "battles")
    if _is_counts(frame):
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
        swap = pl.col("model_a") > pl.col("model_b")
        counts = counts.select(
            pl.when(swap).then("model_b").otherwise("model_a").alias("model_a"),
            pl.when(swap).then("model_a").otherwise("model_b").alias("model_b"),
            pl.when(swap).then("wins_b").otherwise("wins_a").alias("wins_a"),
            pl.when(swap).then("wins_a").otherwise("wins_b").alias("wins_b"),
            "ties",
        )
    else:
        rows = _canonical_rows(validate_battles(frame))
        weight = pl.col("weight")
        counts = rows.select(
            "model_a",
            "model_b",
            pl.when(pl.col("winner") == "model_a").then(weight).otherwise(0.0).alias("wins_a"),
            pl.when(pl.col("winner") == "model_b").then(weight).otherwise(0.0).alias("wins_b"),
            pl.when(pl.col("winner") == "tie").then(weight).otherwise(0.0).alias("ties"),
        )
    return (
        counts.group_by("model_a", "model_b")
        .agg(pl.col("wins_a").sum(), pl.col("wins_b").sum(), pl.col("ties").sum())
        .sort("model_a", "model_b")
    )


def _cluster_codes(frame: pl.DataFrame, unit: BootstrapUnit) -> np.ndarray:
    """Per row, the index of its bootstrap cluster: its instruction, or the row itself."""
    _check_unit(unit)
    if unit == "instruction" and CLUSTER_COLUMN in frame.columns:
        return frame[CLUSTER_COLUMN].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    return np.arange(frame.height, dtype=np.int64)


def bootstrap_unit_used(battles: Any, unit: BootstrapUnit = "instruction") -> BootstrapUnit:
    """The unit the bootstrap will resample for these battles ('vote' without instruction ids)."""
    _check_unit(unit)
    frame = _as_polars(battles, "battles")
    if unit == "instruction" and CLUSTER_COLUMN in frame.columns and not _is_counts(frame):
        return "instruction"
    return "vote"


def _resampled_clusters(codes: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """How many times each cluster is drawn in one bootstrap round (n_clusters draws)."""
    return np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)


# ---------------------------------------------------------------- online Elo


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
    ratings: dict[str, float] = {}
    for a, b, winner, weight in zip(
        frame["model_a"].to_list(),
        frame["model_b"].to_list(),
        frame["winner"].to_list(),
        frame["weight"].to_list(),
        strict=True,
    ):
        r_a = ratings.setdefault(a, float(initial))
        r_b = ratings.setdefault(b, float(initial))
        expected_a = 1.0 / (1.0 + base ** ((r_b - r_a) / scale))
        delta = k * weight * (SCORE_OF[winner] - expected_a)
        ratings[a] = r_a + delta
        ratings[b] = r_b - delta
    return ratings


def _round_sequences(codes: np.ndarray, rounds: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per round, the battle rows of a cluster resample, in a random order."""
    n_clusters = int(codes.max()) + 1 if len(codes) else 0
    by_cluster = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=n_clusters)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sequences = []
    for _ in range(rounds):
        drawn = rng.integers(0, n_clusters, n_clusters)
        lengths = sizes[drawn]
        offsets = np.repeat(starts[drawn] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        rows = by_cluster[np.arange(int(lengths.sum())) + offsets]
        sequences.append(rng.permutation(rows))
    return sequences


def _elo_replays(
    idx_a: np.ndarray,
    idx_b: np.ndarray,
    score_a: np.ndarray,
    weight: np.ndarray,
    codes: np.ndarray,
    n_models: int,
    *,
    rounds: int,
    rng: np.random.Generator,
    k: float,
    initial: float,
    scale: float,
    base: float,
) -> np.ndarray:
    """Online Elo over `rounds` resampled, reshuffled battle sequences -> (rounds, n_models).

    Rounds are replayed side by side: position t of every round in a chunk is one vectorized
    step. Cluster resamples differ in length, so shorter rounds are padded with a weight-0
    battle (index n), which changes nothing.
    """
    n = len(idx_a)
    pad_a, pad_b = np.append(idx_a, 0), np.append(idx_b, 0)
    pad_s, pad_w = np.append(score_a, 0.5), np.append(weight, 0.0)
    out = np.empty((rounds, n_models))
    sequences = _round_sequences(codes, rounds, rng)
    longest = max((len(s) for s in sequences), default=0)
    chunk = max(1, min(rounds, _ELO_REPLAY_CELLS // max(longest, 1)))
    for first in range(0, rounds, chunk):
        batch = sequences[first : first + chunk]
        picks = np.full((len(batch), longest), n, dtype=np.int32)
        for row, sequence in enumerate(batch):
            picks[row, : len(sequence)] = sequence
        ratings = np.full((len(batch), n_models), float(initial))
        lanes = np.arange(len(batch))
        for t in range(longest):
            pick = picks[:, t]
            a, b = pad_a[pick], pad_b[pick]
            r_a, r_b = ratings[lanes, a], ratings[lanes, b]
            expected = 1.0 / (1.0 + np.power(base, (r_b - r_a) / scale))
            delta = k * pad_w[pick] * (pad_s[pick] - expected)
            ratings[lanes, a] = r_a + delta
            ratings[lanes, b] = r_b - delta
        out[first : first + len(batch)] = ratings
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
    if rounds < 0:
        raise InputError(f"rounds must be >= 0, got {rounds}")
    frame = validate_battles(battles)
    experts = sorted(set(frame["model_a"].to_list()) | set(frame["model_b"].to_list()))
    online = online_elo(frame, k=k, initial=initial, scale=scale, base=base)
    point = _anchored(np.array([online[e] for e in experts]), experts, anchor, initial)
    index = {name: i for i, name in enumerate(experts)}
    lower, upper = _ci_bounds(ci)
    if rounds > 0 and frame.height:
        samples = _elo_replays(
            np.array([index[m] for m in frame["model_a"].to_list()], dtype=np.int64),
            np.array([index[m] for m in frame["model_b"].to_list()], dtype=np.int64),
            frame["winner"].replace_strict(SCORE_OF, return_dtype=pl.Float64).to_numpy(),
            frame["weight"].to_numpy(),
            _cluster_codes(frame, unit),
            len(experts),
            rounds=rounds,
            rng=np.random.default_rng(seed),
            k=k,
            initial=initial,
            scale=scale,
            base=base,
        )
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


# ---------------------------------------------------------------- Bradley-Terry


@dataclass(frozen=True)
class _PairArrays:
    """Pair counts as index arrays: ties count as half a win for each side."""

    experts: list[str]
    idx_a: np.ndarray
    idx_b: np.ndarray
    wins_a: np.ndarray
    wins_b: np.ndarray
    ties: np.ndarray


def _pair_arrays(counts: Any) -> _PairArrays:
    frame = pair_counts(counts)
    experts = sorted(set(frame["model_a"].to_list()) | set(frame["model_b"].to_list()))
    index = {name: i for i, name in enumerate(experts)}
    return _PairArrays(
        experts=experts,
        idx_a=np.array([index[m] for m in frame["model_a"].to_list()], dtype=np.int64),
        idx_b=np.array([index[m] for m in frame["model_b"].to_list()], dtype=np.int64),
        wins_a=frame["wins_a"].to_numpy().astype(np.float64),
        wins_b=frame["wins_b"].to_numpy().astype(np.float64),
        ties=frame["ties"].to_numpy().astype(np.float64),
    )


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
    expert won (or lost) every game.
    """
    total = float(weight_a.sum() + weight_b.sum())
    if total <= 0:
        return np.zeros(n_models)
    games = weight_a + weight_b

    def loss_and_grad(s: np.ndarray) -> tuple[float, np.ndarray]:
        d = s[idx_a] - s[idx_b]
        nll = -(weight_a @ log_expit(d) + weight_b @ log_expit(-d)) / total
        g_d = (games * expit(d) - weight_a) / total
        grad = np.bincount(idx_a, g_d, n_models) - np.bincount(idx_b, g_d, n_models)
        return nll + l2 * float(s @ s), grad + 2.0 * l2 * s

    x0 = np.zeros(n_models) if start is None else start
    result = minimize(
        loss_and_grad,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-15},
    )
    return result.x


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

    Accepts pair counts (e.g. the `rating_pair_counts` mart) or raw battles. Fitted with L-BFGS
    and an analytic gradient; ratings are in Elo points with mean `initial`, or with `anchor`'s
    rating fixed at `initial`. `l2` is per game and tiny: it only fixes identifiability.
    """
    pairs = _pair_arrays(counts)
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


def _cell_draws(
    frame: pl.DataFrame, pairs: _PairArrays, unit: BootstrapUnit, rounds: int, seed: int
) -> np.ndarray:
    """(rounds, 3 * n_pairs) resampled cell weights in the order wins_a | wins_b | ties.

    Counts frames are resampled vote by vote: one multinomial draw over the (pair, outcome)
    cells per round (fractional counts are drawn on the rounded total and rescaled). Raw battles
    are resampled by cluster: a sparse (cluster x cell) weight matrix times the clusters' draw
    counts, so a round costs one sparse product however many votes there are.
    """
    rng = np.random.default_rng(seed)
    cells = np.concatenate([pairs.wins_a, pairs.wins_b, pairs.ties])
    total = float(cells.sum())
    if _is_counts(frame):
        draws = max(round(total), 1)
        return rng.multinomial(draws, cells / total, size=rounds) * (total / draws)
    rows = _canonical_rows(validate_battles(frame))
    n_pairs = len(pairs.idx_a)
    pair_index = {
        (pairs.experts[a], pairs.experts[b]): i
        for i, (a, b) in enumerate(zip(pairs.idx_a, pairs.idx_b, strict=True))
    }
    pair_of_row = np.array(
        [pair_index[key] for key in zip(rows["model_a"], rows["model_b"], strict=True)],
        dtype=np.int64,
    )
    outcome = rows["winner"].replace_strict(
        {"model_a": 0, "model_b": 1, "tie": 2}, return_dtype=pl.Int64
    )
    codes = _cluster_codes(rows, unit)
    n_clusters = int(codes.max()) + 1
    matrix = sparse.csr_matrix(
        (rows["weight"].to_numpy(), (codes, outcome.to_numpy() * n_pairs + pair_of_row)),
        shape=(n_clusters, 3 * n_pairs),
    )
    weights_t = matrix.T.tocsr()
    return np.stack(
        [weights_t @ _resampled_clusters(codes, n_clusters, rng) for _ in range(rounds)]
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
    if rounds < 0:
        raise InputError(f"rounds must be >= 0, got {rounds}")
    _check_unit(unit)
    lower, upper = _ci_bounds(ci)
    frame = _as_polars(battles_or_counts, "battles")
    pairs = _pair_arrays(frame)
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

    full = fit(np.concatenate([pairs.wins_a, pairs.wins_b, pairs.ties]), None)
    point = to_elo(full)
    total = float(pairs.wins_a.sum() + pairs.wins_b.sum() + pairs.ties.sum())
    if rounds and total > 0:
        draws = _cell_draws(frame, pairs, unit, rounds, seed)
        samples = np.stack(map_chunks(lambda draw: to_elo(fit(draw, full)), draws))  # Ray
        low = np.quantile(samples, lower, axis=0)
        high = np.quantile(samples, upper, axis=0)
    else:
        low = high = np.full(n_models, np.nan)
    return pl.DataFrame(
        {"expert": pairs.experts, "rating": point, "ci_lower": low, "ci_upper": high}
    )


# ---------------------------------------------------------------- leaderboard


def expert_records(battles_or_counts: Any) -> pl.DataFrame:
    """Per-expert (weighted) games, wins, losses, ties, win_rate = (wins + ties / 2) / games,
    and `record`: 'undefeated' (won every vote it was in), 'winless' (lost every one) or null.
    """
    frame = pair_counts(battles_or_counts)
    as_a = frame.select(
        pl.col("model_a").alias("expert"),
        pl.col("wins_a").alias("wins"),
        pl.col("wins_b").alias("losses"),
        "ties",
    )
    as_b = frame.select(
        pl.col("model_b").alias("expert"),
        pl.col("wins_b").alias("wins"),
        pl.col("wins_a").alias("losses"),
        "ties",
    )
    return (
        pl.concat([as_a, as_b])
        .group_by("expert")
        .agg(pl.col("wins").sum(), pl.col("losses").sum(), pl.col("ties").sum())
        .with_columns(games=pl.col("wins") + pl.col("losses") + pl.col("ties"))
        .with_columns(
            win_rate=(pl.col("wins") + 0.5 * pl.col("ties")) / pl.col("games"),
            record=pl.when((pl.col("wins") > 0) & (pl.col("losses") + pl.col("ties") == 0))
            .then(pl.lit("undefeated"))
            .when((pl.col("losses") > 0) & (pl.col("wins") + pl.col("ties") == 0))
            .then(pl.lit("winless"))
            .otherwise(pl.lit(None, pl.String)),
        )
        .sort("expert")
    )


def _open_bounds(table: pl.DataFrame) -> pl.DataFrame:
    """No data bounds an undefeated expert from above (or a winless one from below): say so.

    Its maximum-likelihood strength is infinite; the finite rating left by the tiny L2 term (or
    by online Elo) is a floor (a ceiling), so the open side of its interval is infinite.
    """
    return table.with_columns(
        ci_upper=pl.when(pl.col("record") == "undefeated").then(float("inf")).otherwise("ci_upper"),
        ci_lower=pl.when(pl.col("record") == "winless").then(float("-inf")).otherwise("ci_lower"),
    )


def record_warnings(table: Any) -> list[str]:
    """One warning per undefeated or winless expert of a leaderboard table (by expert, once)."""
    frame = _as_polars(table, "leaderboard")
    _require_columns(frame, ("expert", "record", "games"), "leaderboard")
    flagged = frame.filter(pl.col("record").is_not_null()).unique("expert", keep="first")
    messages = []
    for row in flagged.sort("expert").iter_rows(named=True):
        side = "won" if row["record"] == "undefeated" else "lost"
        bound = "upper" if row["record"] == "undefeated" else "lower"
        messages.append(
            f"expert {row['expert']!r} is {row['record']}: it {side} all {row['games']:g} of its "
            f"votes, so the data cannot bound its rating; its rating is a {'floor' if side == 'won' else 'ceiling'} "
            f"and its interval's {bound} bound is infinite"
        )
    return messages


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
) -> pl.DataFrame:
    """The `leaderboard` lake table: one row per expert and method, best first.

    Columns LEADERBOARD_COLUMNS. BT's `rating` is the maximum-likelihood fit (`rating_online`
    null); Elo's `rating` is the bootstrap median and `rating_online` the single pass in row
    order. BT accepts raw battles or pair counts; Elo needs raw battles in a fixed order and gets
    its CIs from `elo_bootstrap_rounds` (default: `bootstrap_rounds`) resampled, reshuffled
    replays. `unit` picks what the bootstrap resamples (instructions by default, when the
    battles carry an instruction_id). `anchor` fixes that expert at `initial` in both methods.
    Undefeated and winless experts are flagged in `record`, with the open side of their
    interval infinite (see `record_warnings`).
    """
    if method not in ("bt", "elo", "both"):
        raise InputError(f"method must be 'bt', 'elo' or 'both', got {method!r}")
    _check_unit(unit)
    frame = _as_polars(battles_or_counts, "battles")
    if frame.height == 0:
        raise InputError("nothing to rate: no battles (or pair counts) were given")
    records = expert_records(frame)
    tables = []
    if method in ("bt", "both"):
        bt = bootstrap_bradley_terry(
            frame,
            rounds=bootstrap_rounds,
            seed=seed,
            ci=ci,
            scale=scale,
            base=base,
            initial=initial,
            anchor=anchor,
            unit=unit,
        )
        tables.append(bt.with_columns(method=pl.lit("bt"), rating_online=pl.lit(None, pl.Float64)))
    if method in ("elo", "both"):
        if _is_counts(frame) and "winner" not in frame.columns:
            raise InputError(
                "online Elo needs ordered battles (model_a, model_b, winner), not counts"
            )
        elo = bootstrap_online_elo(
            frame,
            rounds=bootstrap_rounds if elo_bootstrap_rounds is None else elo_bootstrap_rounds,
            seed=seed,
            ci=ci,
            k=k,
            initial=initial,
            scale=scale,
            base=base,
            anchor=anchor,
            unit=unit,
        )
        tables.append(elo.with_columns(method=pl.lit("elo")))
    table = (
        pl.concat(tables, how="diagonal")
        .join(records, on="expert", how="left")
        .select(LEADERBOARD_COLUMNS)
        .sort(["method", "rating", "expert"], descending=[False, True, False])
    )
    return _open_bounds(table)


def ratings_from_leaderboard(table: Any, method: str = "bt") -> dict[str, float]:
    """{expert: rating} for one method of a leaderboard table (input of winner selection).

    `method` is 'bt', 'elo' (Elo's bootstrap median) or 'elo_online' (Elo's single online pass,
    the number the paper's script computes).
    """
    frame = _as_polars(table, "leaderboard")
    column = "rating_online" if method == "elo_online" else "rating"
    _require_columns(frame, ("expert", "method", column), "leaderboard")
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
