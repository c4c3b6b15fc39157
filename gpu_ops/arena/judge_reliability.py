"""How far to trust each LLM judge, from the judges' agreement alone (`judging.aggregate`).

`vote` (the paper): every LLM vote weighs 1. `reliability`: each judge's votes weigh by its
accuracy, estimated without any ground truth and without the execution judge, by the
Dawid-Skene model fitted with EM (A. P. Dawid & A. M. Skene, "Maximum likelihood estimation of
observer error-rates using the EM algorithm", Applied Statistics 28(1), 1979):

- an item is a battle (instruction, model_a < model_b) that at least two LLM judges voted on;
  its latent truth is one of model_a better, model_b better, tie;
- each valid verdict (first, second, tie; invalid ones are left out) is one observation. A
  presentation order only changes where the truth sits: with model_a shown first, "model_a
  better" is the truth `first`; with model_b shown first it is `second`. So both orders of a
  battle share one latent truth, seen with the positions swapped;
- each judge has a 3x3 confusion matrix from the positional truth to its positional verdict
  (so a first-position bias is a property of the judge, not noise), smoothed with a Dirichlet
  prior's pseudo-counts (2 on the diagonal, 1 off it: a judge seen on few battles stays near
  "somewhat better than chance" and no probability is 0 or 1); observations are independent
  given the truth (the model's assumption; it counts a judge's two orders as two looks);
- EM starts from the majority vote and stops when the log-likelihood gains less than 1e-9 per
  observation.

A judge's accuracy is the probability that its decisive verdict names the better response when
one is better, with both positions equally likely: (C[f,f] + C[s,s]) / (C[f,f] + C[f,s] + C[s,f]
+ C[s,s]). A judge that always picks the first position, or the longer answer when length says
nothing of quality, has accuracy 1/2. Its vote weight is the log-odds log(p / (1 - p)), clipped
at 0: with independent judges the weighted majority with these weights is the Bayes-optimal
decision between two answers (Nitzan & Paroush 1982; the weighted vote behind Dawid-Skene),
a judge at chance gets 0, and one below chance gets 0 too (its votes are dropped, never flipped:
the arena only weighs votes). The weights are then divided by their mean over the estimated
judges, so the LLM judges keep the mass they have under `vote` and the execution judge's
configured weight keeps its meaning.

A judge that shares no battle with another judge cannot be estimated: it keeps the prior weight
1 and its row says so. With three experts (the demo's default arena) every battle has exactly
one uninvolved judge, so no judge can be estimated and `reliability` equals `vote`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.ids import require_columns
from gpu_ops.lake_schemas import content_schema

Aggregate = Literal["vote", "reliability"]
AGGREGATES = ("vote", "reliability")

RELIABILITY_SCHEMA = content_schema("judge_reliability")  # storage adds first_seen_at
JUDGMENT_COLUMNS = ["instruction_id", "judge", "model_a", "model_b", "shown_first", "verdict"]

VERDICTS = ("first", "second", "tie")  # positional verdicts, the confusion matrices' columns
# POSITION[truth, order]: where the truth (0 model_a better, 1 model_b better, 2 tie) sits when
# the battle is shown in `order` (0: model_a first, 1: model_b first), as a positional verdict.
POSITION = np.array([[0, 1], [1, 0], [2, 2]])
DIAGONAL_PSEUDO_COUNT = 2.0
OFF_DIAGONAL_PSEUDO_COUNT = 1.0
MAX_ITERATIONS = 500
TOLERANCE = 1e-9  # log-likelihood gain per observation below which EM stops

NOT_ESTIMATED = "shares no battle with another judge: prior weight 1"
NONE_ABOVE_CHANCE = "no judge estimated above chance: every judge keeps weight 1"


def _observations(judgments: pl.DataFrame) -> pl.DataFrame:
    """Valid verdicts with the battle normalized (model_a < model_b) and the order it was shown."""
    require_columns(judgments, JUDGMENT_COLUMNS, "judgments")
    low = pl.min_horizontal("model_a", "model_b")
    high = pl.max_horizontal("model_a", "model_b")
    frame = judgments.filter(pl.col("verdict").is_in(VERDICTS)).select(
        "instruction_id",
        "judge",
        low.alias("model_a"),
        high.alias("model_b"),
        (pl.col("shown_first") != low).cast(pl.Int64).alias("order"),  # 0: model_a first
        pl.col("verdict").replace_strict(
            {v: i for i, v in enumerate(VERDICTS)}, return_dtype=pl.Int64
        ),
    )
    if frame.select(pl.any_horizontal(pl.all().is_null()).any()).item():
        raise InputError("judgments hold nulls in instruction_id, judge, models or shown_first")
    return frame


def _shared(observations: pl.DataFrame) -> pl.DataFrame:
    """The observations on battles that at least two judges voted on (the items EM can use)."""
    battle = ["instruction_id", "model_a", "model_b"]
    return observations.filter(pl.col("judge").n_unique().over(battle) >= 2)


def dawid_skene(
    item: np.ndarray, judge: np.ndarray, order: np.ndarray, verdict: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """EM for the Dawid-Skene model over battles shown in two orders (see the module docstring).

    Arrays of one entry per observation: item and judge as dense codes, order (0: model_a
    shown first, 1: model_b first), verdict (0 first, 1 second, 2 tie). Returns the confusion
    matrices [judge, positional truth, positional verdict], the posterior over each item's truth
    [item, (model_a, model_b, tie)], and the EM iterations run.
    """
    n_items, n_judges, n_obs = int(item.max()) + 1, int(judge.max()) + 1, len(item)
    positional = POSITION[:, order]  # [truth, observation]: the truth's position there
    # majority vote: each verdict counts for the truth it names in its order
    implied = np.argmax(positional == verdict[None, :], axis=0)
    posterior = np.full((n_items, 3), 0.01)
    np.add.at(posterior, (item, implied), 1.0)
    posterior /= posterior.sum(axis=1, keepdims=True)
    pseudo = np.full((3, 3), OFF_DIAGONAL_PSEUDO_COUNT)
    np.fill_diagonal(pseudo, DIAGONAL_PSEUDO_COUNT)
    previous, iterations = -np.inf, 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        prior = (posterior.sum(axis=0) + 1.0) / (n_items + 3.0)
        counts = np.tile(pseudo.ravel(), n_judges)
        for truth in range(3):
            cell = judge * 9 + positional[truth] * 3 + verdict
            counts += np.bincount(cell, weights=posterior[item, truth], minlength=n_judges * 9)
        confusion = counts.reshape(n_judges, 3, 3)
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_confusion = np.log(confusion)
        log_joint = np.tile(np.log(prior), (n_items, 1))
        for truth in range(3):
            looks = log_confusion[judge, positional[truth], verdict]
            log_joint[:, truth] += np.bincount(item, weights=looks, minlength=n_items)
        top = log_joint.max(axis=1, keepdims=True)
        joint = np.exp(log_joint - top)
        likelihood = float((np.log(joint.sum(axis=1)) + top[:, 0]).sum())
        posterior = joint / joint.sum(axis=1, keepdims=True)
        if likelihood - previous < TOLERANCE * n_obs:
            break
        previous = likelihood
    return confusion, posterior, iterations


def decisive_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Per judge: P(its decisive verdict names the better response), both positions alike."""
    right = confusion[:, 0, 0] + confusion[:, 1, 1]
    decisive = confusion[:, :2, :2].sum(axis=(1, 2))
    return right / decisive


def log_odds_weight(accuracy: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) clipped at 0: the weighted-majority weight of a judge of accuracy p."""
    return np.maximum(0.0, np.log(accuracy / (1.0 - accuracy)))


def judge_reliability(judgments: pl.DataFrame, aggregate: Aggregate = "vote") -> pl.DataFrame:
    """One row per judge in `judgments` (RELIABILITY_SCHEMA): its estimated accuracy and vote
    weight. `weight` is what the battle_votes mart multiplies the judge's LLM votes by: the
    reliability weight under `reliability`, 1 under `vote` (the estimate is still reported)."""
    if aggregate not in AGGREGATES:
        raise InputError(f"judging.aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    observations = _observations(judgments)
    judges = sorted(judgments["judge"].unique().to_list())
    battle = ["instruction_id", "model_a", "model_b"]
    battles = observations.group_by("judge").agg(pl.struct(battle).n_unique().alias("battles"))
    shared = _shared(observations)
    shared_battles = shared.group_by("judge").agg(pl.struct(battle).n_unique().alias("shared"))
    accuracy: dict[str, float] = {}
    iterations = 0
    if shared.height:
        judge_codes = shared["judge"].unique().sort()
        items = shared.select(battle).unique().sort(battle).with_row_index("item")
        shared = shared.join(items, on=battle, how="left")
        item = shared["item"].cast(pl.Int64).to_numpy()
        code = shared["judge"].replace_strict(judge_codes, range(len(judge_codes))).to_numpy()
        confusion, _, iterations = dawid_skene(
            item, code, shared["order"].to_numpy(), shared["verdict"].to_numpy()
        )
        accuracy = dict(zip(judge_codes.to_list(), decisive_accuracy(confusion), strict=True))
    raw = {j: float(log_odds_weight(np.array(p))) for j, p in accuracy.items()}
    mean = float(np.mean(list(raw.values()))) if raw else 0.0
    counted = dict(zip(battles["judge"], battles["battles"], strict=True))
    seen = dict(zip(shared_battles["judge"], shared_battles["shared"], strict=True))
    rows = []
    for judge in judges:
        estimated = judge in accuracy
        if not estimated:
            weight, note = 1.0, NOT_ESTIMATED
        elif mean <= 0.0:
            weight, note = 1.0, NONE_ABOVE_CHANCE
        else:
            weight = raw[judge] / mean
            note = f"Dawid-Skene over {len(accuracy)} judges, {iterations} EM iterations"
        rows.append(
            {
                "judge": judge,
                "battles": counted.get(judge, 0),
                "shared_battles": seen.get(judge, 0),
                "estimated": estimated,
                "accuracy": accuracy.get(judge),
                "log_odds": raw.get(judge),
                "reliability_weight": weight,
                "aggregate": aggregate,
                "weight": weight if aggregate == "reliability" else 1.0,
                "note": note,
            }
        )
    return pl.DataFrame(rows, schema=RELIABILITY_SCHEMA)
