"""Expert ratings from pairwise battles: online Elo (the paper) and Bradley-Terry (MLE + bootstrap).

All ratings are on the Elo scale: P(A beats B) = 1 / (1 + base ** ((R_B - R_A) / scale)).

Battles are a DataFrame with columns model_a, model_b, winner ('model_a', 'model_b' or 'tie').
Bradley-Terry works on *pair counts* (model_a, model_b, wins_a, wins_b, ties, model_a < model_b):
a million battles among 50 experts collapse to at most 1,225 rows, so a fit takes milliseconds and
the bootstrap resamples the counts (multinomially) instead of the raw battles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from gpu_ops.errors import InputError

WINNERS = ("model_a", "model_b", "tie")
COUNT_COLUMNS = ("model_a", "model_b", "wins_a", "wins_b", "ties")
LEADERBOARD_COLUMNS = (
    "expert",
    "method",
    "rating",
    "ci_lower",
    "ci_upper",
    "games",
    "wins",
    "losses",
    "ties",
    "win_rate",
)


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


def validate_battles(battles: Any) -> pl.DataFrame:
    """Check a battles frame (columns, winner values, no self-play) and return it as polars."""
    frame = _as_polars(battles, "battles")
    _require_columns(frame, ("model_a", "model_b", "winner"), "battles")
    frame = frame.select(
        pl.col("model_a").cast(pl.String),
        pl.col("model_b").cast(pl.String),
        pl.col("winner").cast(pl.String),
    )
    if frame.select(pl.any_horizontal(pl.all().is_null()).any()).item():
        raise InputError("battles contain null model names or winners")
    bad = frame.filter(~pl.col("winner").is_in(WINNERS))
    if bad.height:
        raise InputError(
            f"battles have winner values outside {WINNERS}: {bad['winner'].unique().to_list()[:5]}"
        )
    if frame.filter(pl.col("model_a") == pl.col("model_b")).height:
        raise InputError("battles contain a model playing itself (model_a == model_b)")
    return frame


def _is_counts(frame: pl.DataFrame) -> bool:
    return all(c in frame.columns for c in COUNT_COLUMNS)


def pair_counts(battles_or_counts: Any) -> pl.DataFrame:
    """Collapse battles (or re-canonicalize counts) to one row per unordered pair.

    Output columns model_a, model_b, wins_a, wins_b, ties with model_a < model_b, sorted.
    Accepts raw battles or a counts frame such as the warehouse mart `rating_pair_counts`.
    """
    frame = _as_polars(battles_or_counts, "battles")
    if _is_counts(frame):
        counts = frame.select(
            pl.col("model_a").cast(pl.String),
            pl.col("model_b").cast(pl.String),
            *(pl.col(c).cast(pl.Int64) for c in ("wins_a", "wins_b", "ties")),
        )
        if counts.select(pl.any_horizontal(pl.all().is_null()).any()).item():
            raise InputError("pair counts contain nulls")
        if counts.filter(pl.col("model_a") == pl.col("model_b")).height:
            raise InputError("pair counts contain a model playing itself")
        if counts.filter(pl.min_horizontal("wins_a", "wins_b", "ties") < 0).height:
            raise InputError("pair counts must be non-negative")
    else:
        # Group the raw rows first (one pass over N rows), then validate the few groups.
        _require_columns(frame, ("model_a", "model_b", "winner"), "battles")
        grouped = frame.group_by("model_a", "model_b", "winner").agg(pl.len().alias("n"))
        games = pl.col("n")
        counts = (
            validate_battles(grouped)  # keeps the row order of `grouped`
            .with_columns(n=grouped["n"].cast(pl.Int64))
            .select(
                "model_a",
                "model_b",
                pl.when(pl.col("winner") == "model_a").then(games).otherwise(0).alias("wins_a"),
                pl.when(pl.col("winner") == "model_b").then(games).otherwise(0).alias("wins_b"),
                pl.when(pl.col("winner") == "tie").then(games).otherwise(0).alias("ties"),
            )
        )
    swap = pl.col("model_a") > pl.col("model_b")
    canonical = counts.select(
        pl.when(swap).then("model_b").otherwise("model_a").alias("model_a"),
        pl.when(swap).then("model_a").otherwise("model_b").alias("model_b"),
        pl.when(swap).then("wins_b").otherwise("wins_a").alias("wins_a"),
        pl.when(swap).then("wins_a").otherwise("wins_b").alias("wins_b"),
        "ties",
    )
    return (
        canonical.group_by("model_a", "model_b")
        .agg(pl.col("wins_a").sum(), pl.col("wins_b").sum(), pl.col("ties").sum())
        .sort("model_a", "model_b")
    )


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
    S_A in {1, 0.5, 0}, and both sides move by the same delta K * (S_A - E_A) computed from the
    *pre-battle* ratings, so the total is conserved (zero-sum). The WarriorCoder reference script
    updates B with A's already-updated rating; that bug is deliberately not reproduced.
    The result depends on row order: sort the battles deterministically before calling.
    """
    frame = validate_battles(battles)
    ratings: dict[str, float] = {}
    score_of = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}
    for a, b, winner in zip(
        frame["model_a"].to_list(),
        frame["model_b"].to_list(),
        frame["winner"].to_list(),
        strict=True,
    ):
        r_a = ratings.setdefault(a, float(initial))
        r_b = ratings.setdefault(b, float(initial))
        expected_a = 1.0 / (1.0 + base ** ((r_b - r_a) / scale))
        delta = k * (score_of[winner] - expected_a)
        ratings[a] = r_a + delta
        ratings[b] = r_b - delta
    return ratings


def _elo_replays(
    idx_a: np.ndarray,
    idx_b: np.ndarray,
    score_a: np.ndarray,
    n_models: int,
    *,
    rounds: int,
    rng: np.random.Generator,
    k: float,
    initial: float,
    scale: float,
    base: float,
    block: int = 4096,
) -> np.ndarray:
    """Online Elo over `rounds` resampled battle sequences at once -> (rounds, n_models).

    Position t of every round is updated in one vectorized step; the resampled battle indices
    are drawn `block` positions at a time so memory stays O(rounds * block).
    """
    n_battles = len(idx_a)
    ratings = np.full((rounds, n_models), float(initial))
    rows = np.arange(rounds)
    for start in range(0, n_battles, block):
        picks = rng.integers(0, n_battles, size=(rounds, min(block, n_battles - start)))
        block_a, block_b, block_s = idx_a[picks], idx_b[picks], score_a[picks]
        for t in range(picks.shape[1]):
            a, b = block_a[:, t], block_b[:, t]
            r_a, r_b = ratings[rows, a], ratings[rows, b]
            delta = k * (block_s[:, t] - 1.0 / (1.0 + np.power(base, (r_b - r_a) / scale)))
            ratings[rows, a] = r_a + delta
            ratings[rows, b] = r_b - delta
    return ratings


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
) -> pl.DataFrame:
    """Online Elo with bootstrap CIs: each round replays a resample of the battles in random order.

    A round draws len(battles) battles with replacement in a random order, so the interval
    reflects both sampling noise and Elo's order dependence. `rating` is the online Elo in the
    given row order (the paper's number). Rounds are vectorized: one pass over battle positions
    updates every round at once.
    """
    frame = validate_battles(battles)
    experts = sorted(set(frame["model_a"].to_list()) | set(frame["model_b"].to_list()))
    point = online_elo(frame, k=k, initial=initial, scale=scale, base=base)
    index = {name: i for i, name in enumerate(experts)}
    idx_a = np.array([index[m] for m in frame["model_a"].to_list()], dtype=np.int64)
    idx_b = np.array([index[m] for m in frame["model_b"].to_list()], dtype=np.int64)
    score = frame["winner"].replace_strict({"model_a": 1.0, "model_b": 0.0, "tie": 0.5}).to_numpy()
    lower, upper = _ci_bounds(ci)
    if rounds > 0 and frame.height:
        samples = _elo_replays(
            idx_a,
            idx_b,
            score,
            len(experts),
            rounds=rounds,
            rng=np.random.default_rng(seed),
            k=k,
            initial=initial,
            scale=scale,
            base=base,
        )
        low = np.quantile(samples, lower, axis=0)
        high = np.quantile(samples, upper, axis=0)
    else:
        low = high = np.full(len(experts), np.nan)
    return pl.DataFrame(
        {
            "expert": experts,
            "rating": [point[e] for e in experts],
            "ci_lower": low,
            "ci_upper": high,
        }
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


def bootstrap_bradley_terry(
    counts: Any,
    *,
    rounds: int = 100,
    seed: int = 0,
    ci: float = 0.95,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: str | None = None,
    l2: float = 1e-8,
) -> pl.DataFrame:
    """BT ratings with percentile bootstrap CIs: columns expert, rating, ci_lower, ci_upper.

    Each round redraws all N games at once from the multinomial over the (pair, outcome) cells
    of the counts, which is the same as resampling the raw battles with replacement but costs
    one vectorized draw for all rounds. `rating` is the fit on the full counts. Each round's fit
    is warm-started from that fit. An expert absent from a resample sits at the mean.
    """
    if rounds < 0:
        raise InputError(f"rounds must be >= 0, got {rounds}")
    lower, upper = _ci_bounds(ci)
    pairs = _pair_arrays(counts)
    n_models = len(pairs.experts)
    cells = np.concatenate([pairs.wins_a, pairs.wins_b, pairs.ties])
    total = int(cells.sum())

    def fit(cell_counts: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        wins_a, wins_b, ties = np.split(cell_counts.astype(np.float64), 3)
        strengths = _fit_strengths(
            pairs.idx_a,
            pairs.idx_b,
            wins_a + 0.5 * ties,
            wins_b + 0.5 * ties,
            n_models,
            l2=l2,
            start=start,
        )
        return strengths

    full = fit(cells, None)
    point = _to_elo(full, pairs.experts, scale=scale, base=base, initial=initial, anchor=anchor)
    if rounds and total:
        rng = np.random.default_rng(seed)
        draws = rng.multinomial(total, cells / total, size=rounds)
        samples = np.stack(
            [
                _to_elo(
                    fit(draw, full),
                    pairs.experts,
                    scale=scale,
                    base=base,
                    initial=initial,
                    anchor=anchor,
                )
                for draw in draws
            ]
        )
        low = np.quantile(samples, lower, axis=0)
        high = np.quantile(samples, upper, axis=0)
    else:
        low = high = np.full(n_models, np.nan)
    return pl.DataFrame(
        {"expert": pairs.experts, "rating": point, "ci_lower": low, "ci_upper": high}
    )


# ---------------------------------------------------------------- leaderboard


def expert_records(counts: Any) -> pl.DataFrame:
    """Per-expert games, wins, losses, ties and win_rate = (wins + ties / 2) / games."""
    frame = pair_counts(counts)
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
            win_rate=(pl.col("wins") + 0.5 * pl.col("ties")) / pl.col("games").cast(pl.Float64)
        )
        .sort("expert")
    )


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
) -> pl.DataFrame:
    """The `leaderboard` lake table: one row per expert and method, best first.

    Columns expert, method ('bt' | 'elo'), rating, ci_lower, ci_upper, games, wins, losses, ties,
    win_rate. BT accepts raw battles or pair counts; Elo needs raw battles in a fixed order (it is
    order dependent) and gets CIs from `elo_bootstrap_rounds` (default: `bootstrap_rounds`)
    resampled, reshuffled replays. `anchor` applies to BT only.
    """
    if method not in ("bt", "elo", "both"):
        raise InputError(f"method must be 'bt', 'elo' or 'both', got {method!r}")
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
        )
        tables.append(bt.with_columns(method=pl.lit("bt")))
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
        )
        tables.append(elo.with_columns(method=pl.lit("elo")))
    return (
        pl.concat(tables)
        .join(records, on="expert", how="left")
        .select(LEADERBOARD_COLUMNS)
        .sort(["method", "rating", "expert"], descending=[False, True, False])
    )


def ratings_from_leaderboard(table: Any, method: str = "bt") -> dict[str, float]:
    """{expert: rating} for one method of a leaderboard table (input of winner selection)."""
    frame = _as_polars(table, "leaderboard")
    _require_columns(frame, ("expert", "method", "rating"), "leaderboard")
    rows = frame.filter(pl.col("method") == method)
    if not rows.height:
        raise InputError(f"leaderboard has no rows for method {method!r}")
    return dict(zip(rows["expert"].to_list(), rows["rating"].to_list(), strict=True))


def ratings_table(ratings: Mapping[str, float]) -> pl.DataFrame:
    """{expert: rating} as a sorted two-column frame (for printing)."""
    items = sorted(ratings.items(), key=lambda kv: (-kv[1], kv[0]))
    return pl.DataFrame(
        {"expert": [e for e, _ in items], "rating": [r for _, r in items]},
        schema={"expert": pl.String, "rating": pl.Float64},
    )
