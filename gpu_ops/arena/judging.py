"""Pairwise judging: uninvolved experts compare two responses to the same instruction.

A battle is (instruction, model_a, model_b) with ``model_a < model_b``. Each judgment records
which model was shown first (``order`` 'ab': model_a first, 'ba': model_b first) and a positional
verdict ('first', 'second', 'tie', 'invalid'), so position bias stays measurable downstream.
Names are never shown to the judge, and a model never judges a battle it takes part in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import polars as pl

from gpu_ops.arena.responding import response_messages
from gpu_ops.errors import InputError
from gpu_ops.ids import content_id, derive_seed, prompt_hash, require_columns, require_unique
from gpu_ops.lake_schemas import content_schema
from gpu_ops.llm import ChatModel, SamplingParams
from gpu_ops.parsing import argmax_label, normalized_probabilities, parse_verdict
from gpu_ops.prompts import (
    CHOICE_SUFFIX,
    VERDICT_LABELS,
    VERDICT_PREFIX,
    judge_messages,
    render_with_prefix,
)

Pairing = Literal["all", "attacker_defender"]
JudgeMode = Literal["logprob", "generate", "likelihood"]
JUDGE_MODES: tuple[str, ...] = ("logprob", "generate", "likelihood")

JUDGMENTS_SCHEMA = content_schema("judgments")  # the stage's columns; storage adds first_seen_at

BATTLE_COLUMNS = ["instruction_id", "instruction", "model_a", "response_a", "model_b", "response_b"]
DEFAULT_JUDGE_SAMPLING = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=1024)

_POSITIONAL = {"A": "first", "B": "second", "tie": "tie", None: "invalid"}
# An exact probability tie between the top labels resolves to Tie, then to the first position.
_ARGMAX_ORDER = ("Tie", "A", "B")


def _check_slugs(names: Sequence[str], what: str) -> list[str]:
    if isinstance(names, str):
        raise InputError(f"{what} must be a list of slugs, not a single string")
    names = list(names)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise InputError(f"{what} must be non-empty strings, got {bad}")
    if len(set(names)) != len(names):
        raise InputError(f"{what} repeat: {names}")
    return names


def battle_pairs(
    experts: Sequence[str], pairing: Pairing = "all", miners: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Sorted (model_a, model_b) pairs with model_a < model_b.

    ``all``: every unordered pair of experts. ``attacker_defender``: defined per instruction;
    ``miners`` holds the instruction's miner(s) (the attackers), each paired with every other
    expert (the defenders), as in the paper.
    """
    experts = _check_slugs(experts, "experts")
    if pairing == "all":
        if miners is not None:
            raise InputError("miners only applies to pairing='attacker_defender'")
        return sorted(itertools.combinations(sorted(experts), 2))
    if pairing != "attacker_defender":
        raise InputError(f"pairing must be 'all' or 'attacker_defender', got {pairing!r}")
    if miners is None:
        raise InputError("pairing='attacker_defender' needs the instruction's miners")
    miners = _check_slugs(miners, "miners")
    strangers = sorted(set(miners) - set(experts))
    if strangers:
        raise InputError(f"miners {strangers} are not among the competing experts {experts}")
    pairs = {tuple(sorted((m, other))) for m in miners for other in experts if other != m}
    return sorted(pairs)


def eligible_judges(
    judges: Sequence[str],
    model_a: str,
    model_b: str,
    families: Mapping[str, str] | None = None,
    exclude_same_family: bool = False,
) -> list[str]:
    """Judges uninvolved in the battle, in the given order (optionally also other families only)."""
    judges = _check_slugs(judges, "judges")
    eligible = [j for j in judges if j not in (model_a, model_b)]
    if not exclude_same_family:
        return eligible
    if families is None:
        raise InputError("exclude_same_family needs the families mapping")
    unknown = sorted({model_a, model_b, *eligible} - set(families))
    if unknown:
        raise InputError(f"no family known for {unknown}")
    taken = {families[model_a], families[model_b]}
    return [j for j in eligible if families[j] not in taken]


def _battles(battles: pl.DataFrame, judge: str) -> pl.DataFrame:
    require_columns(battles, BATTLE_COLUMNS, "battles")
    nulls = [c for c in BATTLE_COLUMNS if battles[c].null_count()]
    if nulls:
        raise InputError(f"battles has null values in {nulls}")
    require_unique(battles, ["instruction_id", "model_a", "model_b"], "battles")
    unordered = battles.filter(pl.col("model_a") >= pl.col("model_b"))
    if unordered.height:
        raise InputError(
            f"battles need model_a < model_b, e.g. {unordered.select('model_a', 'model_b').row(0)}"
        )
    own = battles.filter((pl.col("model_a") == judge) | (pl.col("model_b") == judge))
    if own.height:
        raise InputError(
            f"judge {judge!r} takes part in {own.height} of these battles, "
            f"e.g. {own.select('instruction_id', 'model_a', 'model_b').row(0)}; "
            "a model never judges its own battle"
        )
    return battles


def _single_order(instruction_id: str, model_a: str, model_b: str) -> str:
    """With one order per battle, alternate positions deterministically (about half each)."""
    return "ab" if int(content_id("order", instruction_id, model_a, model_b), 16) % 2 == 0 else "ba"


def _shown(battles: pl.DataFrame, both_orders: bool) -> list[dict]:
    shown = []
    for b in battles.iter_rows(named=True):
        if both_orders:
            orders = ["ab", "ba"]
        else:
            orders = [_single_order(b["instruction_id"], b["model_a"], b["model_b"])]
        for order in orders:
            a_first = order == "ab"
            shown.append(
                {
                    "instruction_id": b["instruction_id"],
                    "instruction": b["instruction"],
                    "model_a": b["model_a"],
                    "model_b": b["model_b"],
                    "order": order,
                    "shown_first": b["model_a"] if a_first else b["model_b"],
                    "shown_second": b["model_b"] if a_first else b["model_a"],
                    "first": b["response_a"] if a_first else b["response_b"],
                    "second": b["response_b"] if a_first else b["response_a"],
                }
            )
    return shown


def _judge_logprob(model: ChatModel, shown: list[dict], system: bool = True) -> list[dict]:
    prompts = [
        render_with_prefix(
            model,
            judge_messages(s["instruction"], s["first"], s["second"], "logprob", system=system),
            VERDICT_PREFIX,
        )
        for s in shown
    ]
    choices = [label + CHOICE_SUFFIX for label in VERDICT_LABELS]
    results = model.choice_logprobs(prompts, choices)
    out = []
    for prompt, scored in zip(prompts, results, strict=True):
        logprobs = scored.logprobs
        probs = normalized_probabilities({c: logprobs[c + CHOICE_SUFFIX] for c in VERDICT_LABELS})
        top = argmax_label(probs, _ARGMAX_ORDER)
        out.append(
            {
                "verdict": _POSITIONAL["tie" if top == "Tie" else top],
                "p_first": probs["A"],
                "p_second": probs["B"],
                "p_tie": probs["Tie"],
                "raw_reply": None,
                "prompt_hash": prompt_hash(prompt),
                "prompt_tokens": scored.prompt_tokens,
                "completion_tokens": None,
            }
        )
    return out


def likelihood_probabilities(log_ratio: float, margin: float) -> tuple[float, float, float]:
    """(p_first, p_second, p_tie) from log p(first) - log p(second) under the judge.

    sigmoid(d - m) and sigmoid(-d - m) never sum past 1 for m >= 0; the rest is the tie's, so two
    answers within about ``m`` nats of each other lean to a tie and the argmax follows the ratio.
    """
    if math.isinf(log_ratio):
        return (1.0, 0.0, 0.0) if log_ratio > 0 else (0.0, 1.0, 0.0)
    first = 1.0 / (1.0 + math.exp(-(log_ratio - margin)))
    second = 1.0 / (1.0 + math.exp(-(-log_ratio - margin)))
    return first, second, max(0.0, 1.0 - first - second)


def _judge_likelihood(
    model: ChatModel, shown: list[dict], *, margin: float, answer_system_prompt: str | None
) -> list[dict]:
    """Likelihood verdicts (GPTScore, Fu et al. 2023): each answer's log-probability as the
    judge's own reply to the instruction, in the conversation the competitors answered.

    No judge prompt is read, so no verdict token can be injected and the order shown cannot
    matter: both orders of a battle share one call (its choices sorted), which the call cache
    keys by content. An empty answer loses to any other; equal answers tie without a call."""
    ratios: dict[tuple[str, str, str], tuple[float, int | None]] = {}
    for s in shown:
        pair = tuple(sorted((s["first"], s["second"])))
        key = (s["instruction"], *pair)
        if key in ratios:
            continue
        low, high = pair
        if low == high:
            ratios[key] = (0.0, None)
        elif not low:  # sorted: an empty answer comes first
            ratios[key] = (-math.inf, None)
        else:
            messages = response_messages(s["instruction"], answer_system_prompt)
            prompt = render_with_prefix(model, messages, "")
            scored = model.choice_logprobs([prompt], [low, high])[0]
            ratios[key] = (scored.logprobs[low] - scored.logprobs[high], scored.prompt_tokens)
    out = []
    for s in shown:
        pair = tuple(sorted((s["first"], s["second"])))
        low_minus_high, prompt_tokens = ratios[(s["instruction"], *pair)]
        ratio = low_minus_high if s["first"] == pair[0] else -low_minus_high
        p_first, p_second, p_tie = likelihood_probabilities(ratio, margin)
        top = argmax_label({"A": p_first, "B": p_second, "Tie": p_tie}, _ARGMAX_ORDER)
        out.append(
            {
                "verdict": _POSITIONAL["tie" if top == "Tie" else top],
                "p_first": p_first,
                "p_second": p_second,
                "p_tie": p_tie,
                "raw_reply": None,
                "prompt_hash": prompt_hash(
                    response_messages(s["instruction"], answer_system_prompt)
                ),
                "prompt_tokens": prompt_tokens,
                "completion_tokens": None,
            }
        )
    return out


def _judge_generate(
    model: ChatModel,
    shown: list[dict],
    judge: str,
    sampling: SamplingParams,
    seed: int,
    system: bool = True,
) -> list[dict]:
    conversations = [
        judge_messages(s["instruction"], s["first"], s["second"], "generate", system=system)
        for s in shown
    ]
    params = [
        sampling.with_seed(
            derive_seed(
                "judge", seed, judge, s["instruction_id"], s["model_a"], s["model_b"], s["order"]
            )
        )
        for s in shown
    ]
    generations = model.chat(conversations, params)
    return [
        {
            "verdict": _POSITIONAL[parse_verdict(g.text)],
            "p_first": None,
            "p_second": None,
            "p_tie": None,
            "raw_reply": g.text,
            "prompt_hash": prompt_hash(messages),
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.completion_tokens,
        }
        for messages, g in zip(conversations, generations, strict=True)
    ]


def judge_battles(
    model: ChatModel,
    battles: pl.DataFrame,
    *,
    judge: str,
    mode: JudgeMode = "logprob",
    both_orders: bool = True,
    sampling: SamplingParams | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    system_prompt: bool = True,
    likelihood_tie_margin: float = 1.0,
    answer_system_prompt: str | None = None,
) -> pl.DataFrame:
    """Judge each battle (BATTLE_COLUMNS) in one batched call; returns the ``judgments`` columns.

    ``both_orders``: judge 'ab' and 'ba' (two rows per battle); otherwise one order per battle,
    chosen by a hash of the battle. ``logprob`` mode renders the judge conversation up to
    ``Verdict: [[`` and stores p_first/p_second/p_tie (summing to 1) with verdict = argmax;
    ``generate`` mode stores the reply and its parsed verdict ('invalid' when unparsable);
    ``likelihood`` mode compares the answers' log-probabilities as the judge's own replies
    (``answer_system_prompt``: the competitors' system turn), p_* from their ratio
    (``likelihood_probabilities``, ``likelihood_tie_margin`` nats).
    Raises InputError if ``judge`` takes part in any battle.
    """
    if not isinstance(judge, str) or not judge:
        raise InputError(f"judge must be a non-empty slug, got {judge!r}")
    if mode not in JUDGE_MODES:
        raise InputError(f"judge mode must be one of {JUDGE_MODES}, got {mode!r}")
    if not likelihood_tie_margin >= 0:
        raise InputError(f"likelihood_tie_margin must be >= 0, got {likelihood_tie_margin!r}")
    shown = _shown(_battles(battles, judge), both_orders)
    if progress:
        progress(0, len(shown))
    # Ask in prefix order: prompts about one instruction with the same first response follow
    # each other, so a prefix cache reuses their shared start; rows keep their own order.
    asking = sorted(
        range(len(shown)),
        key=lambda i: (shown[i]["instruction_id"], shown[i]["first"], shown[i]["second"]),
    )
    in_prefix_order = [shown[i] for i in asking]
    if not shown:
        answers = []
    elif mode == "logprob":
        answers = _judge_logprob(model, in_prefix_order, system_prompt)
    elif mode == "likelihood":
        answers = _judge_likelihood(
            model,
            in_prefix_order,
            margin=likelihood_tie_margin,
            answer_system_prompt=answer_system_prompt,
        )
    else:
        sampling = sampling or DEFAULT_JUDGE_SAMPLING
        answers = _judge_generate(model, in_prefix_order, judge, sampling, seed, system_prompt)
    judged: list[dict] = [{}] * len(shown)
    for position, answer in zip(asking, answers, strict=True):
        judged[position] = answer
    if progress:
        progress(len(shown), len(shown))
    rows = [
        {
            "instruction_id": s["instruction_id"],
            "judge": judge,
            "model_a": s["model_a"],
            "model_b": s["model_b"],
            "shown_first": s["shown_first"],
            "shown_second": s["shown_second"],
            "order": s["order"],
            "mode": mode,
            **j,
        }
        for s, j in zip(shown, judged, strict=True)
    ]
    return pl.DataFrame(rows, schema=JUDGMENTS_SCHEMA)


def build_battles(
    instructions: pl.DataFrame, responses: pl.DataFrame, *, pairing: Pairing = "all"
) -> pl.DataFrame:
    """Battles (BATTLE_COLUMNS) for every instruction from the experts' responses.

    ``instructions``: instruction_id, instruction (and miner for attacker_defender).
    ``responses``: instruction_id, expert, response; every expert must have answered every
    instruction, so that no battle silently disappears.
    """
    needed = ["instruction_id", "instruction"] + (
        ["miner"] if pairing == "attacker_defender" else []
    )
    require_columns(instructions, needed, "instructions")
    require_unique(instructions, ["instruction_id"], "instructions")
    require_columns(responses, ["instruction_id", "expert", "response"], "responses")
    require_unique(responses, ["instruction_id", "expert"], "responses")
    experts = sorted(responses["expert"].unique().to_list())
    answered = {
        (r[0], r[1]): r[2]
        for r in responses.select("instruction_id", "expert", "response").iter_rows()
    }
    rows = []
    for inst in instructions.iter_rows(named=True):
        iid = inst["instruction_id"]
        missing = [e for e in experts if (iid, e) not in answered]
        if missing:
            raise InputError(f"instruction {iid} has no response from {missing}")
        miners = [inst["miner"]] if pairing == "attacker_defender" else None
        for a, b in battle_pairs(experts, pairing, miners):
            rows.append(
                {
                    "instruction_id": iid,
                    "instruction": inst["instruction"],
                    "model_a": a,
                    "response_a": answered[(iid, a)],
                    "model_b": b,
                    "response_b": answered[(iid, b)],
                }
            )
    return pl.DataFrame(rows, schema=dict.fromkeys(BATTLE_COLUMNS, pl.String))
