"""Battle scheduling: which battles each LLM judge votes on (`battles.schedule`).

`full` (the paper): every judge votes on every battle it is uninvolved in. `adaptive`: the judges
are the rounds of a race per instruction. The judging stage runs one judge after the other (its
partitions, in config order), and a judge votes on a battle when

1. coverage: no earlier judge voted on it (so every pair is judged at least once on every
   instruction, and the ratings keep every pair's votes);
2. contested: the instruction's winner is not settled yet and the battle involves an expert that
   can still win it;
3. kept: the judge voted on it in an earlier run (computed votes are never dropped; re-asked
   prompts are call-cache hits).

The race is successive elimination with a confidence bound per instruction (Even-Dar, Mannor &
Mansour, JMLR 2006; Hoeffding races, Maron & Moore, NIPS 1994), sampled as LUCB does
(Kalyanakrishnan, Tewari, Auer & Stone, ICML 2012: each round asks only about the leader and its
most ambiguous challengers), on the paper's winner score
e_i(A) = sum_B [alpha P_global(A > B) + (1 - alpha) x_i(A > B)]. What is raced is the score the
*full* schedule would compute. P_global comes from the Bradley-Terry ratings of the votes so
far weighed as the battle_votes mart weighs them (below), so the race rates what the pipeline
will rate. A battle k of the J judges `full` asks have seen is estimated as the mart would
estimate it (x_seen), and its error against full's local score is the mean of k judges drawn
without replacement from J: variance s^2 (J - k) / (J k) (finite-population sampling, as
Serfling 1974), 0 once all J have voted. A battle no judge has seen yet is expected to go as
the ratings predict, with the spread of seen battles' shares around that prediction. The spread
s^2 of one judge's share is pooled over the battles with two or more judges, scaled by m(1 - m)
of the battle's share m (judges agree more on lopsided battles). An expert stays in the race
while its score is within `z` standard deviations of the leader's; each judge then votes on the
battles of the leader and of the two challengers with the highest upper bounds. An instruction
is settled when one expert is left and the winner of the votes seen so far (weighed as
battle_votes weighs them) is that expert.

The votes of a battle asked of fewer judges than `full` asks weigh judges_full / judges asked in
the battle_votes mart (lake table `battle_judges`), so each battle keeps full's mass: its local
score estimates full's, and the extra votes the race puts on close battles do not bias the
ratings (without the weights the simulation's rating error is 2-4 times larger).

Every function is pure: the schedule depends only on the votes of the judges before this one in
the order, the execution results and the config, so a re-run with the same inputs schedules the
same battles (all call-cache hits), and a new expert schedules its own battles plus only the old
ones its arrival makes contested. Cost and agreement with `full` are measured by
`bench/bench_battle_schedule.py` (docs/BENCHMARKS.md, whose rounds 2 to 5 also record the designs
measured against this one and not kept: one challenger, variance-targeted battles, rating phases,
coverage passes, shrinkage of the unheard votes toward the ratings, one-order coverage; round 6
a per-instruction Bradley-Terry imputation of the unheard calls, bench/probe_schedule_imputation;
round 7 the judges' order, sharpest or noisiest first; round 8 bounds what better projections of
the unheard calls could give, bench/probe_schedule_oracle; round 9 the schedule on 30 arenas it
was never tuned on, the judges' sharpness behind the ratings' drift, and a judge-scaled rating
fit that did not remove it, bench/probe_schedule_judge_scale).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from gpu_ops.arena.ratings import fit_bradley_terry
from gpu_ops.errors import InputError

BATTLE_KEY = ["instruction_id", "model_a", "model_b"]
VOTE_COLUMNS = {
    "instruction_id": pl.String,
    "model_a": pl.String,
    "model_b": pl.String,
    "judge": pl.String,
    "winner": pl.String,  # 'model_a', 'model_b', 'tie' or 'invalid'
    "weight": pl.Float64,
}
EXECUTION_JUDGE = "execution"
# The lake table that counts what judging spent against what `full` needs (one row per judge).
SCHEDULE_COUNT_COLUMNS = {
    "judge": pl.String,
    "schedule": pl.String,
    "battles_full": pl.Int64,
    "battles_judged": pl.Int64,
    "calls_full": pl.Int64,
    "calls_spent": pl.Int64,
}
# The lake table `battle_judges`: per battle a judge votes on, the judges `full` asks for it, so
# that the battle_votes mart weighs the battle's LLM votes by judges_full / judges asked.
BATTLE_JUDGE_COLUMNS = {
    "instruction_id": pl.String,
    "model_a": pl.String,
    "model_b": pl.String,
    "judge": pl.String,
    "judges_full": pl.Int64,
}
_SCORE_DECIMALS = 9  # as gpu_ops.sft_data.winners: scores equal to this many decimals tie


@dataclass(frozen=True)
class RaceSettings:
    """The race's knobs; the defaults are the ones bench_battle_schedule measured."""

    alpha: float = 0.7  # winners.alpha
    z: float = 2.0  # bound width, in standard deviations of the score difference
    orders: int = 2  # LLM calls per battle and judge (2 with judging.both_orders)
    scale: float = 400.0
    base: float = 10.0
    prior_variance: float = 0.25  # per-judge score variance before enough battles show it
    min_pooled_battles: int = 20  # battles with two or more judges needed to trust the pooled one
    challengers: int = 2  # LUCB: challengers raced against the leader per judge

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise InputError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.z <= 0 or self.orders not in (1, 2):
            raise InputError(f"need z > 0 and orders 1 or 2, got z={self.z}, orders={self.orders}")


# --- votes ---------------------------------------------------------------------------------------


def llm_votes(judgments: pl.DataFrame) -> pl.DataFrame:
    """The `judgments` lake rows as votes (VOTE_COLUMNS), as the `battle_votes` mart reads them."""
    picked = (
        pl.when(pl.col("verdict") == "first")
        .then(pl.col("shown_first"))
        .when(pl.col("verdict") == "second")
        .then(pl.col("shown_second"))
    )
    winner = (
        pl.when(picked == pl.col("model_a"))
        .then(pl.lit("model_a"))
        .when(picked == pl.col("model_b"))
        .then(pl.lit("model_b"))
        .when(pl.col("verdict") == "tie")
        .then(pl.lit("tie"))
        .otherwise(pl.lit("invalid"))
    )
    return judgments.select(
        "instruction_id",
        "model_a",
        "model_b",
        "judge",
        winner.alias("winner"),
        pl.lit(1.0).alias("weight"),
    ).cast(VOTE_COLUMNS)


def execution_votes(results: pl.DataFrame, weight: float) -> pl.DataFrame:
    """The execution judge's votes: one per instruction and pair with both exec_scores, the
    higher score wins, equal scores tie (as the `battle_votes` mart); none when weight is 0."""
    scored = results.filter(pl.col("exec_score").is_not_null()).select(
        "instruction_id", "expert", "exec_score"
    )
    if weight <= 0 or scored.is_empty():
        return pl.DataFrame(schema=VOTE_COLUMNS)
    pairs = scored.join(scored, on="instruction_id", suffix="_b").filter(
        pl.col("expert") < pl.col("expert_b")
    )
    winner = (
        pl.when(pl.col("exec_score") > pl.col("exec_score_b"))
        .then(pl.lit("model_a"))
        .when(pl.col("exec_score") < pl.col("exec_score_b"))
        .then(pl.lit("model_b"))
        .otherwise(pl.lit("tie"))
    )
    return pairs.select(
        "instruction_id",
        pl.col("expert").alias("model_a"),
        pl.col("expert_b").alias("model_b"),
        pl.lit(EXECUTION_JUDGE).alias("judge"),
        winner.alias("winner"),
        pl.lit(float(weight)).alias("weight"),
    ).cast(VOTE_COLUMNS)


def _check_votes(votes: pl.DataFrame) -> pl.DataFrame:
    missing = sorted(set(VOTE_COLUMNS) - set(votes.columns))
    if missing:
        raise InputError(f"votes lack columns {missing}")
    votes = votes.select(list(VOTE_COLUMNS)).cast(VOTE_COLUMNS)
    if votes.filter(pl.col("model_a") >= pl.col("model_b")).height:
        raise InputError("votes need model_a < model_b")
    return votes


def rate(votes: pl.DataFrame, experts: Sequence[str], settings: RaceSettings) -> dict[str, float]:
    """Bradley-Terry ratings (Elo points) of the votes so far; 1000 for all without any."""
    decisive = votes.filter(pl.col("winner") != "invalid")
    ratings = dict.fromkeys(experts, 1000.0)
    if decisive.filter(pl.col("weight") > 0).height:
        fitted = fit_bradley_terry(decisive, scale=settings.scale, base=settings.base)
        ratings.update({e: r for e, r in fitted.items() if e in ratings})
    return ratings


# --- the race --------------------------------------------------------------------------------------


def battle_estimates(
    votes: pl.DataFrame,
    remaining: pl.DataFrame,
    settings: RaceSettings,
    ratings: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """Per battle: x_seen (the local score battle_votes would give if the race stopped now: the
    LLM votes weighed by judges_full / judges seen, 0.5 without a decisive vote; a battle its
    coverage judge has yet to see counts as x_full), x_full and x_var (the estimate of the local
    score once every judge `full` asks has voted, and the variance of its error), and
    judges_seen (LLM judges with a valid vote).

    remaining: BATTLE_KEY + `remaining` (LLM judges still to come that `full` would ask) and
    optionally `judges_full` (all the judges `full` asks; default: the ones seen and to come).
    ratings: the current ratings, the prior of a battle no LLM judge has seen (default: its
    execution votes, or 0.5).
    """
    votes = _check_votes(votes)
    weight = pl.col("weight")
    is_llm = pl.col("judge") != EXECUTION_JUDGE
    valid = votes.filter(pl.col("winner") != "invalid")
    per_judge = (
        valid.filter(is_llm)
        .group_by([*BATTLE_KEY, "judge"])
        .agg(
            a=(weight * (pl.col("winner") == "model_a")).sum(),
            b=(weight * (pl.col("winner") == "model_b")).sum(),
            n=pl.len(),
        )
        .with_columns(
            share=pl.when(pl.col("a") + pl.col("b") > 0).then(
                pl.col("a") / (pl.col("a") + pl.col("b"))
            )
        )
    )
    spread = _pooled_spread(per_judge, settings)
    decisive_rate = _decisive_rate(per_judge, settings)
    llm = per_judge.group_by(BATTLE_KEY).agg(
        llm_a=pl.col("a").sum(), llm_b=pl.col("b").sum(), judges_seen=pl.len()
    )
    execution = (
        valid.filter(~is_llm)
        .group_by(BATTLE_KEY)
        .agg(
            exec_a=(weight * (pl.col("winner") == "model_a")).sum(),
            exec_b=(weight * (pl.col("winner") == "model_b")).sum(),
        )
    )
    if "judges_full" not in remaining.columns:
        remaining = remaining.with_columns(judges_full=pl.lit(None, dtype=pl.Int64))
    frame = (
        remaining.select(
            *BATTLE_KEY,
            pl.col("remaining").cast(pl.Float64),
            pl.col("judges_full").cast(pl.Float64),
        )
        .join(llm, on=BATTLE_KEY, how="full", coalesce=True)
        .join(execution, on=BATTLE_KEY, how="left")
        .with_columns(
            pl.col("remaining", "llm_a", "llm_b", "exec_a", "exec_b").fill_null(0.0),
            pl.col("judges_seen").fill_null(0).cast(pl.Float64),
        )
    )
    seen_a = pl.col("llm_a") + pl.col("exec_a")
    seen = seen_a + pl.col("llm_b") + pl.col("exec_b")
    llm_total = pl.col("llm_a") + pl.col("llm_b")
    # what battle_votes would weigh the LLM votes with if the race stopped now
    weight = (
        pl.when(pl.col("judges_seen") > 0)
        .then(pl.col("judges_full").fill_null(pl.col("judges_seen")) / pl.col("judges_seen"))
        .otherwise(1.0)
    )
    now_a = pl.col("llm_a") * weight + pl.col("exec_a")
    now = now_a + pl.col("llm_b") * weight + pl.col("exec_b")
    x_seen = pl.when(now > 0).then(now_a / now).otherwise(0.5)
    # a battle no LLM judge has seen yet: the judges to come vote as the ratings predict (the
    # prior), with the spread of seen battles' shares around that prediction
    prior_var = settings.prior_variance
    x_prior = pl.when(seen > 0).then(seen_a / seen).otherwise(0.5)
    if ratings is not None:
        frame, prior_var = _with_prior(frame, ratings, settings)
        x_prior = pl.col("prior").fill_null(x_prior)
    # judges agree more on a lopsided battle: the spread of their shares scales with
    # m(1 - m), m the battle's share smoothed by one vote each way (Agresti-Coull style)
    smoothed = (pl.col("llm_a") + 1.0) / (llm_total + 2.0)
    variance = spread * smoothed * (1.0 - smoothed)  # of one judge's share
    future = pl.col("remaining") * settings.orders * decisive_rate  # decisive votes to come
    total = seen + future
    unseen_full = pl.when(total > 0).then((seen_a + future * x_prior) / total).otherwise(0.5)
    unseen_var = (
        pl.when(total > 0)
        .then(
            (
                pl.col("remaining") * (settings.orders * decisive_rate) ** 2 * variance
                + future**2 * prior_var
            )
            / total**2
        )
        .otherwise(0.0)
    )
    # a battle k of its J judges have seen: the mart's estimate (x_seen) errs from full's local
    # score by the mean of k judges drawn without replacement from J, variance
    # s^2 (J - k) / (J k) (finite population), the LLM votes' share of the battle's mass squared
    k = pl.col("judges_seen")
    judges = pl.col("judges_full").fill_null(k + pl.col("remaining"))
    llm_mass = judges * settings.orders * decisive_rate
    llm_share = llm_mass / (llm_mass + pl.col("exec_a") + pl.col("exec_b"))
    seen_var = llm_share**2 * variance * (judges - k).clip(0) / (judges * k)
    x_full = pl.when(k > 0).then(x_seen).otherwise(unseen_full)
    x_var = pl.when(k > 0).then(seen_var).otherwise(unseen_var)
    # a battle its coverage judge has yet to see counts as its prior, not as 0.5
    x_seen = pl.when((k == 0) & (pl.col("remaining") > 0)).then(unseen_full).otherwise(x_seen)
    return frame.select(
        *BATTLE_KEY,
        x_seen.alias("x_seen"),
        x_full.alias("x_full"),
        x_var.alias("x_var"),
        "judges_seen",
        "remaining",
    )


def _with_prior(
    frame: pl.DataFrame, ratings: Mapping[str, float], settings: RaceSettings
) -> tuple[pl.DataFrame, float]:
    """`frame` with `prior` (P(model_a beats model_b) under the ratings) and the mean squared
    deviation of the seen battles' LLM shares from it (the prior's variance)."""
    names = list(ratings)
    table = pl.DataFrame({"expert": names, "rating": [float(ratings[e]) for e in names]})
    frame = (
        frame.join(table.rename({"expert": "model_a", "rating": "r_a"}), on="model_a", how="left")
        .join(table.rename({"expert": "model_b", "rating": "r_b"}), on="model_b", how="left")
        .with_columns(
            prior=1.0 / (1.0 + settings.base ** ((pl.col("r_b") - pl.col("r_a")) / settings.scale))
        )
        .drop("r_a", "r_b")
    )
    llm_total = pl.col("llm_a") + pl.col("llm_b")
    seen = frame.filter((llm_total > 0) & pl.col("prior").is_not_null())
    if seen.height < settings.min_pooled_battles:
        return frame, settings.prior_variance
    deviation = seen.select(((pl.col("llm_a") / llm_total - pl.col("prior")) ** 2).mean()).item()
    return frame, float(deviation)


def _pooled_spread(per_judge: pl.DataFrame, settings: RaceSettings) -> float:
    """How much the judges' shares of one battle spread, per unit of m(1 - m) (m: the battle's
    smoothed share), pooled over battles with two or more judges; from the prior before."""
    judged = per_judge.drop_nulls("share")
    spread = (
        judged.group_by(BATTLE_KEY)
        .agg(
            var=pl.col("share").var(ddof=1),
            n=pl.len(),
            m=(pl.col("a").sum() + 1.0) / (pl.col("a").sum() + pl.col("b").sum() + 2.0),
        )
        .filter(pl.col("n") >= 2)
    )
    if spread.height < settings.min_pooled_battles:
        return settings.prior_variance / 0.25
    bernoulli = float((spread["m"] * (1.0 - spread["m"])).mean())
    return float(spread["var"].mean()) / bernoulli


def _decisive_rate(per_judge: pl.DataFrame, settings: RaceSettings) -> float:
    """Share of valid LLM votes that pick a side (ties do not move x)."""
    votes = float(per_judge["n"].sum()) if per_judge.height else 0.0
    if votes == 0:
        return 1.0
    decisive = float((per_judge["a"] + per_judge["b"]).sum())
    return max(decisive / votes, 1.0 / (votes + 1.0))


def race(
    estimates: pl.DataFrame,
    competitors: Mapping[str, Sequence[str]],
    ratings: Mapping[str, float],
    settings: RaceSettings,
) -> pl.DataFrame:
    """Per instruction and competitor: whether the next judge races it (`alive`).

    An expert is eliminated once the leader's projected score beats its own by more than `z`
    standard deviations of the difference. Of the ones left, the next judge races the leader and
    its `challengers` most ambiguous ones (highest upper bound), as LUCB does. Columns
    instruction_id, expert, alive, leader (the projected winner), settled (one expert left and
    it also wins on the votes seen so far). A competitor pair without an estimate counts as
    x = 0.5 with no uncertainty, as winner selection does.
    """
    rows = []
    by_instruction = {
        key[0]: group for key, group in estimates.group_by("instruction_id", maintain_order=True)
    }
    for instruction, experts in competitors.items():
        experts = sorted(experts)
        n = len(experts)
        index = {e: i for i, e in enumerate(experts)}
        x_full = np.full((n, n), 0.5)
        x_seen = np.full((n, n), 0.5)
        x_var = np.zeros((n, n))
        group = by_instruction.get(instruction)
        if group is not None:
            for a, b, full, seen, var in group.select(
                "model_a", "model_b", "x_full", "x_seen", "x_var"
            ).iter_rows():
                if a in index and b in index:
                    i, j = index[a], index[b]
                    x_full[i, j], x_full[j, i] = full, 1.0 - full
                    x_seen[i, j], x_seen[j, i] = seen, 1.0 - seen
                    x_var[i, j] = x_var[j, i] = var
        np.fill_diagonal(x_full, 0.0)
        np.fill_diagonal(x_seen, 0.0)
        rating = np.array([float(ratings[e]) for e in experts])
        p_global = 1.0 / (
            1.0 + settings.base ** ((rating[None, :] - rating[:, None]) / settings.scale)
        )
        np.fill_diagonal(p_global, 0.0)
        global_part = settings.alpha * p_global.sum(axis=1)
        projected = global_part + (1 - settings.alpha) * x_full.sum(axis=1)
        current = global_part + (1 - settings.alpha) * x_seen.sum(axis=1)
        leader = _argmax(projected, rating, experts)
        row_var = x_var.sum(axis=1)
        diff_sd = (1 - settings.alpha) * np.sqrt(row_var[leader] + row_var + 2 * x_var[leader])
        upper = projected + settings.z * diff_sd  # each challenger's bound against the leader
        alive = projected[leader] - projected <= settings.z * diff_sd + 1e-12
        alive[leader] = True
        settled = bool(alive.sum() == 1 and _argmax(current, rating, experts) == leader)
        # LUCB: the next judge goes to the leader and its most ambiguous challengers only
        challengers = sorted(
            (k for k in range(n) if alive[k] and k != leader), key=lambda k: (-upper[k], experts[k])
        )[: settings.challengers]
        racing = {leader, *challengers} if not settled else set()
        rows += [
            (instruction, e, k in racing, experts[leader], settled) for k, e in enumerate(experts)
        ]
    return pl.DataFrame(
        rows,
        schema={
            "instruction_id": pl.String,
            "expert": pl.String,
            "alive": pl.Boolean,
            "leader": pl.String,
            "settled": pl.Boolean,
        },
        orient="row",
    )


def _argmax(scores: np.ndarray, rating: np.ndarray, experts: list[str]) -> int:
    """Winner selection's order: higher score, then higher rating, then slug order."""
    rounded = np.round(scores, _SCORE_DECIMALS)
    return min(range(len(experts)), key=lambda k: (-rounded[k], -rating[k], experts[k]))


def useful_battles(
    estimates: pl.DataFrame, standings: pl.DataFrame, battles: pl.DataFrame
) -> pl.DataFrame:
    """The `battles` (BATTLE_KEY) one more judge should vote on: no LLM vote yet (coverage), or
    an unsettled instruction and a side still racing (`standings.alive`)."""
    alive = standings.filter(pl.col("alive")).select("instruction_id", "expert")
    unsettled = standings.filter(~pl.col("settled")).select("instruction_id").unique()
    known = battles.select(BATTLE_KEY).join(estimates, on=BATTLE_KEY, how="left")
    covered = pl.col("judges_seen").fill_null(0) > 0
    side_alive = (
        known.join(unsettled, on="instruction_id", how="semi")
        .join(
            alive.rename({"expert": "model_a"}).with_columns(a_alive=pl.lit(True)),
            on=["instruction_id", "model_a"],
            how="left",
        )
        .join(
            alive.rename({"expert": "model_b"}).with_columns(b_alive=pl.lit(True)),
            on=["instruction_id", "model_b"],
            how="left",
        )
        .filter(pl.col("a_alive").fill_null(False) | pl.col("b_alive").fill_null(False))
        .select(BATTLE_KEY)
    )
    return pl.concat(
        [known.filter(~covered).select(BATTLE_KEY), side_alive], how="vertical"
    ).unique(maintain_order=True)


def mart_weights(votes: pl.DataFrame, remaining: pl.DataFrame) -> pl.DataFrame:
    """The votes as the battle_votes mart weighs them: a battle's LLM votes by judges_full /
    LLM judges that voted on it (execution votes keep their weight)."""
    is_llm = pl.col("judge") != EXECUTION_JUDGE
    asked = (
        votes.filter(is_llm)
        .group_by(BATTLE_KEY)
        .agg(asked=pl.col("judge").n_unique())
        .join(remaining.select(*BATTLE_KEY, "judges_full"), on=BATTLE_KEY, how="left")
    )
    return (
        votes.join(asked, on=BATTLE_KEY, how="left")
        .with_columns(
            weight=pl.when(is_llm & pl.col("judges_full").is_not_null())
            .then(pl.col("weight") * pl.col("judges_full") / pl.col("asked"))
            .otherwise(pl.col("weight"))
        )
        .select(list(VOTE_COLUMNS))
    )


def competitors_of(battles: Iterable[pl.DataFrame]) -> dict[str, list[str]]:
    """{instruction_id: the experts in its battles}, as winner selection counts competitors."""
    frames = [b.select(BATTLE_KEY) for b in battles if b.height]
    if not frames:
        return {}
    sides = pl.concat(frames).unpivot(index="instruction_id", value_name="expert")
    grouped = sides.group_by("instruction_id").agg(pl.col("expert").unique().sort())
    return dict(zip(grouped["instruction_id"], grouped["expert"].to_list(), strict=True))


# --- one judge's turn --------------------------------------------------------------------------------


def remaining_judges(
    battles_by_judge: Mapping[str, pl.DataFrame], order: Sequence[str], judge: str
) -> pl.DataFrame:
    """Per battle, the judges the full schedule asks: from `judge` on in `order` (`remaining`)
    and in all (`judges_full`)."""
    if judge not in order:
        raise InputError(f"judge {judge!r} is not in the judging order {list(order)}")
    turn = list(order).index(judge)
    frames = [
        battles_by_judge[j].select(BATTLE_KEY).with_columns(later=pl.lit(k >= turn))
        for k, j in enumerate(order)
        if j in battles_by_judge
    ]
    if not frames:
        return pl.DataFrame(
            schema={
                **dict.fromkeys(BATTLE_KEY, pl.String),
                "remaining": pl.Int64,
                "judges_full": pl.Int64,
            }
        )
    return (
        pl.concat(frames)
        .group_by(BATTLE_KEY)
        .agg(
            remaining=pl.col("later").sum().cast(pl.Int64),
            judges_full=pl.len().cast(pl.Int64),
        )
        .sort(BATTLE_KEY)
    )


def plan_judge(
    judge: str,
    order: Sequence[str],
    battles_by_judge: Mapping[str, pl.DataFrame],
    earlier_votes: pl.DataFrame,
    competitors: Mapping[str, Sequence[str]],
    settings: RaceSettings,
    already_judged: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The battles (BATTLE_KEY rows of battles_by_judge[judge]) this judge votes on.

    order: the judges in the order they run; battles_by_judge: what `full` gives each of them;
    earlier_votes: VOTE_COLUMNS of the judges before this one (and the execution judge);
    competitors: {instruction_id: experts that answered}; already_judged: BATTLE_KEY of this
    judge's votes from an earlier run (kept).
    """
    mine = battles_by_judge.get(judge)
    if mine is None or mine.is_empty():
        return pl.DataFrame(schema=dict.fromkeys(BATTLE_KEY, pl.String))
    before = set(list(order)[: list(order).index(judge)]) | {EXECUTION_JUDGE}
    votes = _check_votes(earlier_votes).filter(pl.col("judge").is_in(list(before)))
    remaining = remaining_judges(battles_by_judge, order, judge)
    experts = sorted({e for names in competitors.values() for e in names})
    # the ratings battle_votes would give now: each battle's LLM votes weighed to full's mass
    ratings = rate(mart_weights(votes, remaining), experts, settings)
    estimates = battle_estimates(votes, remaining, settings, ratings)
    standings = race(estimates, competitors, ratings, settings)
    chosen = useful_battles(estimates, standings, mine)
    if already_judged is not None and already_judged.height:
        kept = mine.select(BATTLE_KEY).join(
            already_judged.select(BATTLE_KEY), on=BATTLE_KEY, how="semi"
        )
        chosen = pl.concat([chosen, kept]).unique(maintain_order=True)
    return mine.select(BATTLE_KEY).join(chosen, on=BATTLE_KEY, how="semi")


def full_judge_counts(
    battles_by_judge: Mapping[str, pl.DataFrame], chosen: pl.DataFrame, judge: str
) -> pl.DataFrame:
    """The `battle_judges` rows of `judge`: per chosen battle, the judges `full` asks for it."""
    frames = [b.select(BATTLE_KEY) for b in battles_by_judge.values() if b.height]
    if not frames or chosen.is_empty():
        return pl.DataFrame(schema=BATTLE_JUDGE_COLUMNS)
    counts = pl.concat(frames).group_by(BATTLE_KEY).agg(judges_full=pl.len().cast(pl.Int64))
    return (
        chosen.select(BATTLE_KEY)
        .join(counts, on=BATTLE_KEY, how="left")
        .with_columns(pl.lit(judge).alias("judge"), pl.col("judges_full").fill_null(1))
        .select(list(BATTLE_JUDGE_COLUMNS))
        .sort(BATTLE_KEY)
    )


def schedule_counts(
    judge: str, schedule: str, battles_full: int, battles_judged: int, orders: int
) -> pl.DataFrame:
    """One row of the `judging_schedule` lake table: what this judge spent and what full needs."""
    return pl.DataFrame(
        [
            (
                judge,
                schedule,
                battles_full,
                battles_judged,
                battles_full * orders,
                battles_judged * orders,
            )
        ],
        schema=SCHEDULE_COUNT_COLUMNS,
        orient="row",
    )
