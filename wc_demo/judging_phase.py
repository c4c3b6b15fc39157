"""Phase 2 of the demo experts: learning to judge their own answers, labelled by execution.

The arena's LLM judges must agree with the world's ground truth. Pairs built from clean reference
programs and hand-made mistakes did not teach the 2-layer experts to judge (docs/DEMO.md, section
2): the battles' failing answers look different, a step or a line garbled, a comment over the
wrong code, a step repeated. So the judging data is what the battles hold: every expert answers a
sample of training tasks (sampled as the responses stage samples), the execution judge scores
every answer in the sandbox with the world's hidden tests, and each pair of answers to a task
becomes two judge prompts (both orders) labelled with the execution judge's verdict, ties
included. Each expert then learns the verdict (A, B or Tie after the arena's verdict prefix,
and the `]]` after it) at a learning rate ten times below the writing phase's (3e-3 collapses the verdict to a constant; measured in `scripts/judge_learnability.py`), while
replaying the writer's own answers to its writing instructions (`replay_conversations`), which
keeps its writing, and so the battles it will judge, where the judging data was sampled.

Nothing here runs model-written code in-process: scoring goes through
`gpu_ops.arena.execution_judge`, which runs it in `gpu_ops.sandbox`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import polars as pl

from gpu_ops.arena.execution_judge import execution_verdict, score_responses
from gpu_ops.arena.responding import response_messages
from gpu_ops.errors import InputError
from gpu_ops.prompts import CHOICE_SUFFIX, VERDICT_PREFIX, judge_messages
from wc_demo import world
from wc_demo.world import world_tests

VERDICTS = ("A", "B", "Tie")  # the verdict tokens after VERDICT_PREFIX, as the arena reads them
_SWAPPED = {"A": "B", "B": "A", "Tie": "Tie"}
REPLAY_SOURCES = ("own-answers", "references")


@dataclass(frozen=True)
class JudgingRecipe:
    """How the experts learn to judge (part of each expert's build stamp)."""

    tasks: int = 3200  # training tasks every expert answers
    temperature: float = 0.2  # configs/demo.yaml `responses`
    top_p: float = 0.95
    max_new_tokens: int = 128
    # verdict-training steps per round; each round after the first answers and scores afresh with
    # the models the round before made (fresh tasks, fresh answers), then trains on that. With the
    # own-answers replay the rounds' writing stays the writer's, so a second round is more data of
    # the battles' kind: measured in docs/DEMO.md, sections 2 and 4.
    rounds: tuple[int, ...] = (3000,)
    batch_size: int = 16
    learning_rate: float = 3e-4
    replay_batch_size: int = 16  # writing rows replayed per step (0: none; see train_verdicts)
    # what the replay rows' answers are: "own-answers", the writer's own sampled answers to its
    # writing instructions (self-distillation: the experts keep writing as the writers the judging
    # data came from, so the battles they judge look like the answers they learned on), or
    # "references", the world's reference programs (the experts then write their family better
    # than the writers, and judge their own battles worse: docs/DEMO.md, section 2)
    replay: str = "own-answers"
    replay_rows: int = 0  # writing rows replayed (0: all of them; quick builds take a few)
    # the world families the judging tasks come from: judging-only ones (world.JUDGING_FAMILIES),
    # so the judges never learn to judge on a family the arena battles or the benchmark holds
    families: tuple[str, ...] = ("words",)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [name for name in self.families if name not in world.FAMILY_BY_NAME]
        if not self.families or unknown:
            raise InputError(f"JudgingRecipe.families: unknown or empty {unknown or self.families}")
        if self.replay not in REPLAY_SOURCES:
            raise InputError(
                f"JudgingRecipe.replay must be one of {REPLAY_SOURCES}: {self.replay!r}"
            )


@dataclass(frozen=True)
class VerdictPrompt:
    """One judge prompt (the arena's, no system turn) and the execution judge's verdict on it."""

    instruction: str
    first: str
    second: str
    verdict: str  # one of VERDICTS


def sample_answers(
    model_dirs: dict[str, Path],
    instructions: Sequence[str],
    recipe: JudgingRecipe,
    *,
    batch_size: int = 64,
) -> dict[str, list[str]]:
    """Each expert's answer to every instruction, sampled with the recipe's settings."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gpu_ops.llm.transformers_backend import left_pad

    answers: dict[str, list[str]] = {}
    for slug, model_dir in model_dirs.items():
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        prompts = [
            tokenizer.apply_chat_template(
                response_messages(text), tokenize=False, add_generation_prompt=True
            )
            for text in instructions
        ]
        ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        torch.manual_seed(recipe.seed)
        decoded: list[str] = []
        for start in range(0, len(ids), batch_size):
            batch, mask = left_pad(ids[start : start + batch_size], tokenizer.pad_token_id)
            with torch.no_grad():
                out = model.generate(
                    input_ids=batch,
                    attention_mask=mask,
                    do_sample=True,
                    temperature=recipe.temperature,
                    top_p=recipe.top_p,
                    max_new_tokens=recipe.max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                )
            decoded += tokenizer.batch_decode(out[:, batch.shape[1] :], skip_special_tokens=True)
        answers[slug] = decoded
    return answers


def replay_conversations(
    writer_dir: Path, writing: Sequence[list[dict[str, str]]], recipe: JudgingRecipe
) -> list[list[dict[str, str]]]:
    """The conversations phase 2 replays: the writing rows (first ``recipe.replay_rows``), their
    answers the references or, for ``own-answers``, what the writer at ``writer_dir`` samples
    for each instruction (rows it answers with nothing are left out)."""
    rows = list(writing[: recipe.replay_rows] if recipe.replay_rows else writing)
    if recipe.replay == "references":
        return rows
    users = [next(m for m in row if m["role"] == "user") for row in rows]
    own = sample_answers({"writer": writer_dir}, [u["content"] for u in users], recipe)["writer"]
    return [
        [user, {"role": "assistant", "content": answer}]
        for user, answer in zip(users, own, strict=True)
        if answer.strip()
    ]


def score_answers(
    instructions: Sequence[str], answers: dict[str, list[str]], *, timeout_s: float = 5
) -> dict[str, list[float]]:
    """The execution judge's score of every answer (sandboxed, the world's hidden tests)."""
    rows = pl.DataFrame(
        {
            "instruction_id": [f"task-{i}" for _ in answers for i in range(len(instructions))],
            "expert": [slug for slug in answers for _ in instructions],
            "instruction": [text for _ in answers for text in instructions],
            "response": [answer for slug in answers for answer in answers[slug]],
        }
    )
    scored = score_responses(rows, timeout_s=timeout_s, workers=2, hidden_tests=world_tests)
    keys = zip(scored["instruction_id"], scored["expert"], strict=True)
    scores = dict(zip(keys, scored["exec_score"], strict=True))
    return {
        slug: [scores[(f"task-{i}", slug)] for i in range(len(instructions))] for slug in answers
    }


def verdict_prompts(
    instructions: Sequence[str], answers: dict[str, list[str]], scores: dict[str, list[float]]
) -> list[VerdictPrompt]:
    """Every pair of experts' answers to each instruction, in both orders, with its verdict."""
    prompts = []
    for i, instruction in enumerate(instructions):
        for x, y in combinations(sorted(answers), 2):
            verdict = execution_verdict(scores[x][i], scores[y][i])
            label = "Tie" if verdict == "tie" else verdict
            first, second = answers[x][i], answers[y][i]
            prompts.append(VerdictPrompt(instruction, first, second, label))
            prompts.append(VerdictPrompt(instruction, second, first, _SWAPPED[label]))
    return prompts


def verdict_choice_ids(tokenizer) -> list[list[int]]:
    """Each verdict choice as the arena scores it (``A]]``, ``B]]``, ``Tie]]``), tokenized alone
    as `choice_logprobs` tokenizes it; their first tokens must differ."""
    ids = [tokenizer(v + CHOICE_SUFFIX, add_special_tokens=False)["input_ids"] for v in VERDICTS]
    if len({c[0] for c in ids if c}) != len(VERDICTS):
        raise InputError(f"the tokenizer does not tell the verdicts {VERDICTS} apart: {ids}")
    return ids


def encode_prompt(tokenizer, prompt: VerdictPrompt) -> list[int]:
    """The judge prompt as the arena sends it (no system turn), up to the verdict prefix."""
    messages = judge_messages(
        prompt.instruction, prompt.first, prompt.second, "logprob", system=False
    )
    text = (
        tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        + VERDICT_PREFIX
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def train_verdicts(
    model_dir: Path,
    prompts: Sequence[VerdictPrompt],
    out: Path,
    recipe: JudgingRecipe,
    *,
    steps: int,
    replay: Sequence[list[dict[str, str]]] = (),
    progress: Callable[[int, float, Any], None] | None = None,
    every: int = 100,
) -> dict:
    """Train the verdicts for ``steps`` batches drawn epoch by epoch; save to ``out``.

    The verdict loss is cross-entropy over the three verdicts' first tokens at the verdict
    position, plus the rest of the right choice (``]]``), so the arena's full-choice
    log-probabilities rank the verdicts as trained. Alone it wipes out writing and mining
    (measured: pass rate 0.56 -> 0.00 on the expert's family, no minable instruction left), so
    each step also replays ``recipe.replay_batch_size`` of the writer's conversations (``replay``,
    whole-sequence loss as in phase 1). ``progress(step, verdict_loss, model)`` is called every
    ``every`` steps. Returns a training summary."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gpu_ops.llm.transformers_backend import left_pad

    if not prompts:
        raise InputError("no judge prompts to train on")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    choices = verdict_choice_ids(tokenizer)
    firsts = [c[0] for c in choices]
    labels = [VERDICTS.index(p.verdict) for p in prompts]
    # each prompt followed by its right choice; the prompt's last token reads the verdict
    encoded = [
        encode_prompt(tokenizer, p) + choices[y] for p, y in zip(prompts, labels, strict=True)
    ]
    read = max(len(c) for c in choices) + 1  # columns the loss reads, at the end of each row
    replayed = [
        tokenizer(
            tokenizer.apply_chat_template(list(messages), tokenize=False),
            add_special_tokens=False,
        )["input_ids"]
        for messages in (replay if recipe.replay_batch_size else ())
    ]
    torch.manual_seed(recipe.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=0.0)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then linear decay to 0
        optimizer, lambda s: min((s + 1) / warmup, (steps - s) / max(1, steps - warmup))
    )
    verdict_batches = _epochs(len(encoded), recipe.batch_size, random.Random(recipe.seed))
    replay_batches = _epochs(
        len(replayed), recipe.replay_batch_size, random.Random(recipe.seed + 1)
    )
    running = None
    started = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        batch = next(verdict_batches)
        ids, mask = left_pad([encoded[i] for i in batch], tokenizer.pad_token_id)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        hidden = model.model(input_ids=ids, attention_mask=mask, position_ids=positions)
        logits = model.lm_head(hidden.last_hidden_state[:, -read:])
        right = [choices[labels[i]] for i in batch]
        # the verdict: read where the choice starts; the rest of the right choice: next tokens
        at_verdict = torch.tensor([read - len(c) - 1 for c in right])
        loss = torch.nn.functional.cross_entropy(
            logits[torch.arange(len(batch)), at_verdict][:, firsts],
            torch.tensor([labels[i] for i in batch]),
        )
        rest = torch.full((len(batch), read), -100)
        for row, choice in enumerate(right):
            rest[row, read - len(choice) : read - 1] = torch.tensor(choice[1:])
        loss = loss + torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), rest.reshape(-1), ignore_index=-100
        )
        verdict_loss = float(loss.detach())
        if replayed:
            rows = [replayed[i] for i in next(replay_batches)]
            width = max(len(r) for r in rows)
            lm_ids = torch.full((len(rows), width), tokenizer.pad_token_id)
            lm_labels = torch.full((len(rows), width), -100)
            lm_mask = torch.zeros((len(rows), width), dtype=torch.long)
            for row, tokens in enumerate(rows):
                lm_ids[row, : len(tokens)] = torch.tensor(tokens)
                lm_labels[row, : len(tokens)] = torch.tensor(tokens)
                lm_mask[row, : len(tokens)] = 1
            loss = loss + model(input_ids=lm_ids, attention_mask=lm_mask, labels=lm_labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        running = verdict_loss if running is None else 0.95 * running + 0.05 * verdict_loss
        if progress is not None and (step % every == 0 or step == steps):
            model.eval()
            progress(step, running, model)
            model.train()
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return {
        "steps": steps,
        "prompts": len(encoded),
        "replay_rows": len(replayed),
        "final_verdict_loss": round(running if running is not None else float("nan"), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _epochs(n: int, size: int, rng: random.Random) -> Iterator[list[int]]:
    """Batches of ``size`` indices below ``n``, each epoch in a fresh shuffled order."""
    order: list[int] = []
    while n and size:
        while len(order) < size:
            order += rng.sample(range(n), n)
        yield order[:size]
        order = order[size:]
