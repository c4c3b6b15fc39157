"""Judging cost per verdict mode, on the project's own tiny experts, through gpu_ops.arena.judging.

The same battles (two competitors' answers to the same instructions, both presentation orders)
are judged by an uninvolved expert with `judge_battles` in both modes:
- logprob: one forward pass per prompt that scores `[[A]]`/`[[B]]`/`[[Tie]]` after `Verdict: [[`
  (`choice_logprobs`); no token is generated and every verdict is valid by construction;
- generate: a free-text judgment of up to `judging.max_new_tokens` (config default) tokens,
  parsed by `parse_verdict` (unparsable replies are 'invalid').
Figures: tokens generated and seconds per judgment, valid-verdict rate, agreement of the modes,
batched vs one prompt per forward pass (`batch_size=1`, what the reference scripts do), and how
much of each judge prompt a prefix cache (vLLM automatic prefix caching) could reuse in the
order the project sends prompts vs sorted by (instruction, first response).

    python -m bench.bench_judging [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from bench.timing import median_timed
from gpu_ops.arena.judging import build_battles, judge_battles
from gpu_ops.arena.responding import generate_responses
from gpu_ops.llm import ChatModel, ModelSpec, SamplingParams, load_model
from gpu_ops.prompts import (
    CHOICE_SUFFIX,
    VERDICT_LABELS,
    VERDICT_PREFIX,
    fence_tag,
    judge_fence_tag,
    judge_messages,
    render_with_prefix,
)
from wc_foundation.config import JudgingConfig

DEMO_SLUGS = ("expert-text", "expert-lists", "expert-numbers")  # judge, competitor A, competitor B
JUDGE_MAX_NEW_TOKENS = JudgingConfig().max_new_tokens  # generate-mode default (1024)
RESPONSE_MAX_NEW_TOKENS = 192  # configs/demo.yaml responses.max_new_tokens


# --- models and battles -------------------------------------------------------------------------


def model_dirs() -> tuple[str, dict[str, Path]]:
    """The built demo experts, else three tiny random Llamas (seeds 0-2) in the temp dir."""
    from bench.bench_arena_scaling import demo_models_dir

    demo = demo_models_dir()
    if demo is not None:
        return "demo experts (text judges lists vs numbers)", {s: demo / s for s in DEMO_SLUGS}
    from wc_demo.tiny_model import build_tiny_model, build_tokenizer

    root = Path(tempfile.gettempdir()) / "wc_bench_judging_tiny"
    tokenizer = build_tokenizer(root / "tokenizer")
    dirs = {
        slug: build_tiny_model(root / slug, tokenizer_dir=tokenizer, seed=i)
        for i, slug in enumerate(DEMO_SLUGS)
    }
    return "tiny random llamas (seeds 0-2)", dirs


def load(slug: str, path: Path, max_model_len: int) -> ChatModel:
    return load_model(
        ModelSpec(slug=slug, model=str(path), batch_size=32, max_model_len=max_model_len)
    )


def bench_instructions(n: int) -> pl.DataFrame:
    """n coding instructions of the demo corpus (the experts' own distribution), fixed order."""
    from wc_demo.world import example_frame

    frame = example_frame().sort("example_id").head(n)
    return frame.select(pl.col("example_id").alias("instruction_id"), "instruction")


def answers(
    models: dict[str, ChatModel], instructions: pl.DataFrame, max_new_tokens: int, seed: int = 0
) -> pl.DataFrame:
    """Each competitor's response to every instruction (demo settings: T=0.3, top_p 0.95)."""
    sampling = SamplingParams(temperature=0.3, top_p=0.95, max_new_tokens=max_new_tokens)
    frames = [
        generate_responses(model, instructions, expert=slug, sampling=sampling, seed=seed)
        for slug, model in models.items()
    ]
    return pl.concat(frames).select("instruction_id", "expert", "response")


def shown_prompts(battles: pl.DataFrame) -> list[dict[str, str]]:
    """Judge inputs in the order judge_battles sends them: battle by battle, 'ab' then 'ba'."""
    out = []
    for b in battles.iter_rows(named=True):
        for first, second in (("a", "b"), ("b", "a")):
            out.append(
                {
                    "instruction_id": b["instruction_id"],
                    "instruction": b["instruction"],
                    "first": b[f"response_{first}"],
                    "second": b[f"response_{second}"],
                }
            )
    return out


# --- prefix sharing -----------------------------------------------------------------------------


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_with_previous(prompts: Sequence[Sequence[int]]) -> float:
    """Share of prompt tokens equal to the start of the previous prompt (a one-entry cache)."""
    shared = sum(common_prefix(a, b) for a, b in itertools.pairwise(prompts))
    return shared / max(sum(len(p) for p in prompts), 1)


def shared_with_any_earlier(prompts: Sequence[Sequence[int]]) -> float:
    """Share of prompt tokens that prefix some earlier prompt (an unbounded prefix cache).

    A token trie: each prompt walks the prompts inserted before it, then adds its own path.
    """
    root: dict = {}
    shared = 0
    for prompt in prompts:
        node, matched = root, True
        for token in prompt:
            if matched and token in node:
                shared += 1
            else:
                matched = False
            node = node.setdefault(token, {})
    return shared / max(sum(len(p) for p in prompts), 1)


def stable_tag_messages(shown: dict[str, str], tag: str) -> list[dict[str, str]]:
    """judge_messages with a tag derived from the instruction and all its responses.

    The project's tag (`judge_fence_tag`) is the instruction's own when no response contains
    it (the case measured as "current_prompts"); this variant, kept for comparison with the
    measurement that motivated it, is per instruction whatever the responses hold.
    """
    messages = judge_messages(shown["instruction"], shown["first"], shown["second"], "logprob")
    own = judge_fence_tag(shown["instruction"], shown["first"], shown["second"])
    user = messages[1]["content"]
    if user.count(own) != 6:  # three blocks, a start and an end marker each
        raise ValueError("the fence tag occurs outside the markers")
    return [messages[0], {"role": "user", "content": user.replace(own, tag)}]


def prefix_sharing(model: ChatModel, battles: pl.DataFrame, seed: int = 0) -> dict[str, Any]:
    """Reusable prompt tokens in the project's order, a shuffled order and a sorted order."""
    shown = shown_prompts(battles)
    responses_of: dict[str, list[str]] = {}
    for b in battles.iter_rows(named=True):
        responses_of.setdefault(b["instruction_id"], []).extend([b["response_a"], b["response_b"]])
    tags = {
        i: fence_tag(battles.filter(pl.col("instruction_id") == i)["instruction"][0], *r)
        for i, r in responses_of.items()
    }

    def ids(s: dict[str, str], stable: bool) -> list[int]:
        if stable:
            messages = stable_tag_messages(s, tags[s["instruction_id"]])
        else:
            messages = judge_messages(s["instruction"], s["first"], s["second"], "logprob")
        return model.encode(render_with_prefix(model, messages, VERDICT_PREFIX))

    shuffled = list(range(len(shown)))
    random.Random(seed).shuffle(shuffled)
    orders = {
        "project": list(range(len(shown))),
        "shuffled": shuffled,
        "sorted": sorted(
            range(len(shown)),
            key=lambda i: (shown[i]["instruction_id"], shown[i]["first"], shown[i]["second"]),
        ),
    }
    out: dict[str, Any] = {"prompts": len(shown)}
    for variant, stable in (("current_prompts", False), ("stable_tag_prompts", True)):
        encoded = [ids(s, stable) for s in shown]
        out[variant] = {
            name: {
                "with_previous": round(shared_with_previous([encoded[i] for i in order]), 3),
                "with_any_earlier": round(shared_with_any_earlier([encoded[i] for i in order]), 3),
            }
            for name, order in orders.items()
        }
    system_only = judge_messages("x", "y", "z")[:1]
    out["system_prompt_tokens"] = len(model.encode(model.render_chat(system_only, False)))
    return out


# --- choice scoring before / after (transformers backend) -------------------------------------


def per_choice_logprobs(
    model: Any, prompts: Sequence[str], choices: Sequence[str]
) -> list[list[float]]:
    """The former transformers scorer, kept here as the baseline: one left-padded prompt+choice
    row per choice (the prompt is fed once per choice), raw (unnormalized) sums of choice-token
    log-probs. Adds the real tokens it feeds to ``model.tokens_fed`` like the backend does."""
    import torch

    choice_ids = [model.encode(c) for c in choices]
    rows = [(model.encode(p), c) for p in prompts for c in choice_ids]
    scores: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(rows), model.spec.batch_size):
            batch = rows[start : start + model.spec.batch_size]
            width = max(len(p) + len(c) for p, c in batch)
            ids = torch.full((len(batch), width), model.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, (p, c) in enumerate(batch):
                ids[i, width - len(p) - len(c) :] = torch.tensor(p + c)
                mask[i, width - len(p) - len(c) :] = 1
            model.tokens_fed += int(mask.sum())
            longest = max(len(c) for _, c in batch)
            logits = model.model(
                input_ids=ids.to(model.device),
                attention_mask=mask.to(model.device),
                position_ids=(mask.cumsum(-1) - 1).clamp(min=0).to(model.device),
                logits_to_keep=longest + 1,
            ).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for i, (_, c) in enumerate(batch):
                k = len(c)
                predicted = logprobs[i, -k - 1 : -1, :]
                targets = torch.tensor(c, device=predicted.device).unsqueeze(1)
                scores.append(float(predicted.gather(1, targets).sum()))
    k = len(choices)
    return [scores[i * k : (i + 1) * k] for i in range(len(prompts))]


def normalized(row: Sequence[float]) -> list[float]:
    top = max(row)
    total = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - total for v in row]


def scoring_before_after(judge: Any, battles: pl.DataFrame, repeats: int) -> dict[str, Any]:
    """The same logprob-mode judge prompts scored by the former per-choice rows and by the
    backend's one-pass scorer: seconds and tokens fed per judgment, and how far they differ."""
    prompts = [
        render_with_prefix(
            judge,
            judge_messages(s["instruction"], s["first"], s["second"], "logprob"),
            VERDICT_PREFIX,
        )
        for s in shown_prompts(battles)
    ]
    choices = [label + CHOICE_SUFFIX for label in VERDICT_LABELS]
    prompt_tokens = sum(len(judge.encode(p)) for p in prompts)
    figures: dict[str, Any] = {"judgments": len(prompts)}
    results = {}
    for name, score in (
        ("per_choice_rows", lambda: per_choice_logprobs(judge, prompts, choices)),
        ("one_pass", lambda: judge.choice_logprobs(prompts, choices)),
    ):
        before = judge.tokens_fed
        results[name], seconds = median_timed(score, repeats)
        fed = (judge.tokens_fed - before) / repeats
        figures[name] = {
            "seconds_per_judgment": round(seconds / len(prompts), 4),
            "tokens_fed_per_judgment": round(fed / len(prompts), 1),
            "tokens_fed_over_prompt_tokens": round(fed / prompt_tokens, 3),
        }
    old = [normalized(row) for row in results["per_choice_rows"]]
    new = [[row.logprobs[c] for c in choices] for row in results["one_pass"]]
    figures["prompt_tokens_per_judgment"] = round(prompt_tokens / len(prompts), 1)
    figures["speedup"] = round(
        figures["per_choice_rows"]["seconds_per_judgment"]
        / figures["one_pass"]["seconds_per_judgment"],
        2,
    )
    figures["max_abs_logprob_difference"] = float(
        f"{max(abs(a - b) for ro, rn in zip(old, new, strict=True) for a, b in zip(ro, rn, strict=True)):.2g}"
    )
    return figures


# --- the measurement ----------------------------------------------------------------------------


def mode_figures(frame: pl.DataFrame, seconds: float) -> dict[str, Any]:
    n = len(frame)
    tokens = frame["completion_tokens"].fill_null(0)
    return {
        "judgments": n,
        "seconds_per_judgment": round(seconds / n, 4),
        "generated_tokens_per_judgment": round(float(tokens.sum()) / n, 1),
        "valid_rate": round(float((frame["verdict"] != "invalid").sum()) / n, 3),
        "verdicts": dict(sorted(frame["verdict"].value_counts().iter_rows())),
    }


def agreement(logprob: pl.DataFrame, generate: pl.DataFrame) -> dict[str, Any]:
    """Same verdict in both modes, over the judgments where generate mode gave a valid one."""
    keys = ["instruction_id", "model_a", "model_b", "order"]
    both = logprob.select(*keys, "verdict").join(
        generate.select(*keys, pl.col("verdict").alias("generated")), on=keys
    )
    valid = both.filter(pl.col("generated") != "invalid")
    same = int((valid["verdict"] == valid["generated"]).sum())
    return {
        "compared": len(valid),
        "agreement": round(same / len(valid), 3) if len(valid) else None,
    }


def measure(
    *,
    n_battles: int,
    judge_max_new_tokens: int,
    response_max_new_tokens: int,
    single_battles: int,
    repeats: int,
    prefix_instructions: int = 32,
    max_model_len: int = 2048,
    dirs: dict[str, Path] | None = None,
    instructions: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Judge n_battles battles x 2 orders in both modes; see the module docstring.

    Every battle is judged once per mode (the mean over all judgments is the figure); the
    batched vs one-per-pass comparison on the first ``single_battles`` takes medians of
    ``repeats``. ``dirs`` (judge, competitor, competitor slugs -> model dirs) and ``instructions``
    (instruction_id, instruction) replace the demo experts and corpus, for smoke tests.
    """
    if dirs is None:
        label, dirs = model_dirs()
    else:
        label = "given models"
    judge_slug, *competitor_slugs = DEMO_SLUGS
    judge = load(judge_slug, dirs[judge_slug], max_model_len)
    competitors = {s: load(s, dirs[s], max_model_len) for s in competitor_slugs}
    instructions = bench_instructions(n_battles) if instructions is None else instructions
    # Two more competitors on the same weights (their own seeds) for the prefix measurement:
    # a judge in a 5-expert arena sees C(4, 2) = 6 pairs x 2 orders per instruction.
    arena = {**competitors, **{f"{s}-2": m for s, m in competitors.items()}}
    responses = answers(arena, instructions, response_max_new_tokens)
    arena_battles = build_battles(instructions, responses)
    battles = arena_battles.filter(
        (pl.col("model_a") == competitor_slugs[0]) & (pl.col("model_b") == competitor_slugs[1])
    )
    generate_sampling = SamplingParams(temperature=0.0, max_new_tokens=judge_max_new_tokens)

    def judged(mode: str, frame: pl.DataFrame = battles) -> pl.DataFrame:
        return judge_battles(judge, frame, judge=judge_slug, mode=mode, sampling=generate_sampling)

    judged("logprob", battles.head(2))  # warm-up
    # every battle once per mode (128 judgments average out); medians on the small subset below
    fed_before = judge.tokens_fed
    logprob, logprob_s = median_timed(lambda: judged("logprob"), 1)
    logprob_fed = judge.tokens_fed - fed_before
    generate, generate_s = median_timed(lambda: judged("generate"), 1)
    generate_fed = judge.tokens_fed - fed_before - logprob_fed
    before_after = scoring_before_after(judge, battles.head(single_battles), repeats)

    # batched (spec.batch_size) vs one sequence per forward pass, on the first battles
    subset = battles.head(single_battles)
    batched_spec = judge.spec
    batch: dict[str, float] = {}
    for mode in ("logprob", "generate"):
        judge.spec = batched_spec
        _, batched_s = median_timed(lambda m=mode: judged(m, subset), repeats)
        judge.spec = dataclasses.replace(batched_spec, batch_size=1)
        _, single_s = median_timed(lambda m=mode: judged(m, subset), repeats)
        batch[f"{mode}_speedup"] = round(single_s / batched_s, 2)
        batch[f"{mode}_batched_seconds"] = round(batched_s, 3)
        batch[f"{mode}_single_seconds"] = round(single_s, 3)
    judge.spec = batched_spec

    logprob_fig = mode_figures(logprob, logprob_s)
    generate_fig = mode_figures(generate, generate_s)
    result = {
        "benchmark": "judging",
        "model": label,
        "device": str(getattr(judge, "device", "?")),
        "battles": len(battles),
        "judgments_per_mode": len(logprob),
        "generate_max_new_tokens": judge_max_new_tokens,
        "response_max_new_tokens": response_max_new_tokens,
        "repeats_batched_vs_single": repeats,
        "logprob": {
            **logprob_fig,
            # recorded by judge_battles (the judgments' prompt_tokens column)
            "prompt_tokens_per_judgment": round(float(logprob["prompt_tokens"].mean()), 1),
            # counted by the backend: every real token fed to the model
            "tokens_fed_per_judgment": round(logprob_fed / len(logprob), 1),
        },
        "generate": {
            **generate_fig,
            "prompt_tokens_per_judgment": round(float(generate["prompt_tokens"].mean()), 1),
            "tokens_fed_per_judgment": round(generate_fed / len(generate), 1),
            "length_stopped_rate": round(
                float((generate["completion_tokens"] >= judge_max_new_tokens).sum())
                / len(generate),
                3,
            ),
        },
        "generate_over_logprob_seconds": round(
            generate_fig["seconds_per_judgment"] / logprob_fig["seconds_per_judgment"], 2
        ),
        "mode_agreement": agreement(logprob, generate),
        "choice_scoring_before_after": before_after,
        "batched_vs_single": {"judgments": 2 * len(subset), **batch},
        "prefix_sharing": {
            "battles": f"{prefix_instructions} instructions x 6 pairs of 4 competitors",
            **prefix_sharing(
                judge,
                arena_battles.filter(
                    pl.col("instruction_id").is_in(
                        instructions["instruction_id"].head(prefix_instructions).implode()
                    )
                ),
            ),
        },
    }
    return result


def run(quick: bool = False) -> dict:
    """quick: 8 battles, 64 judge tokens (seconds); full: 64 battles, the config's 1024 tokens."""
    if quick:
        return measure(
            n_battles=8,
            judge_max_new_tokens=64,
            response_max_new_tokens=48,
            single_battles=4,
            repeats=1,
        )
    return measure(
        n_battles=64,
        judge_max_new_tokens=JUDGE_MAX_NEW_TOKENS,
        response_max_new_tokens=RESPONSE_MAX_NEW_TOKENS,
        single_battles=8,
        repeats=3,
    )


def summary(result: dict) -> list[tuple[str, str, str, str]]:
    """Rows for the top table of docs/BENCHMARKS.md: (benchmark, compared, result, target)."""
    lp, gen = result["logprob"], result["generate"]
    sharing = result["prefix_sharing"]
    agree = result["mode_agreement"]["agreement"]
    batch = result["batched_vs_single"]
    ba = result["choice_scoring_before_after"]
    return [
        (
            "judging",
            "seconds per judgment, generate / logprob mode "
            f"({result['judgments_per_mode']} judgments)",
            f"{gen['seconds_per_judgment']:.3g} / {lp['seconds_per_judgment']:.3g} s "
            f"(x{result['generate_over_logprob_seconds']})",
            "logprob cheaper",
        ),
        (
            "judging",
            "tokens fed to the model per judgment, generate / logprob mode (prompt tokens "
            "generate / logprob)",
            f"{gen['tokens_fed_per_judgment']} / {lp['tokens_fed_per_judgment']} "
            f"({gen['prompt_tokens_per_judgment']} / {lp['prompt_tokens_per_judgment']})",
            "logprob ~1x its prompt",
        ),
        (
            "judging",
            "logprob choice scoring, one pass on the prompt's KV cache vs one prompt+choice row "
            f"per choice (before), {ba['judgments']} judgments",
            f"{ba['one_pass']['seconds_per_judgment']:.3g} vs "
            f"{ba['per_choice_rows']['seconds_per_judgment']:.3g} s (**{ba['speedup']}x**); "
            f"tokens fed {ba['one_pass']['tokens_fed_over_prompt_tokens']}x vs "
            f"{ba['per_choice_rows']['tokens_fed_over_prompt_tokens']}x the prompt; "
            f"max log-prob difference {ba['max_abs_logprob_difference']}",
            "~1x the prompt",
        ),
        (
            "judging",
            "generated tokens per judgment, generate / logprob mode",
            f"{gen['generated_tokens_per_judgment']} / {lp['generated_tokens_per_judgment']}",
            "logprob 0",
        ),
        (
            "judging",
            "valid-verdict rate generate / logprob; agreement of the modes",
            f"{gen['valid_rate']} / {lp['valid_rate']}; "
            + ("n/a (no valid generated verdict)" if agree is None else f"{agree}"),
            "valid 1.0",
        ),
        (
            "judging",
            "batched vs one prompt per forward pass (logprob / generate)",
            f"x{batch['logprob_speedup']} / x{batch['generate_speedup']}",
            "> 1",
        ),
        (
            "judging",
            "judge prompt tokens shared with the previous prompt: battle order / sorted (the "
            "order judge_battles asks in); all-responses tag: battle order / sorted",
            f"{sharing['current_prompts']['project']['with_previous']} / "
            f"{sharing['current_prompts']['sorted']['with_previous']} "
            f"({sharing['stable_tag_prompts']['project']['with_previous']} / "
            f"{sharing['stable_tag_prompts']['sorted']['with_previous']})",
            "higher is better",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="8 battles, 64 judge tokens instead of 64 x 1024"
    )
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
