"""Can a demo expert learn to judge? The learning curve of one judging recipe, measured.

The probe behind docs/DEMO.md's "What did not teach them": judge prompts over a reference program
and a hand-made failing one (the demo's experts now learn from their own answers instead,
`wc_demo.judging_phase`). It trains one built expert on the arena's own judge prompt
(`judge_messages`, logprob mode, no system turn, as configs/demo.yaml asks) over a passing and a
failing answer to a training task, both orders of every pair, with a verdict-only loss
(cross-entropy over the A/B tokens after the verdict prefix, the position the arena reads). Every ``--every`` steps it prints the running loss,
the accuracy on held-out pairs of the same kind, and, with ``--home``, the agreement with the
execution judge on the battles of that demo run the expert judged (those it is not in), counted
as `judge_agreement` counts it (both orders; a flip is a tie).

Pairs (``--pairs``): ``other-family`` (the failing answer is another family's program: a
bag-of-tokens difference), ``same-family`` (another composition of the same family), ``mistakes``
(`world.wrong_answer`: the shapes of the experts' real mistakes, one or two lines off).
``--matching-steps N`` first trains a short warm-up task ("is this step asked for?" over an
instruction and one phrase, ~70 tokens) at ``--matching-lr``.
``--family F`` keeps the pairs to one family (the expert's own: does knowing the answers help?).
``--layers N`` stacks the trained layers to N (the new ones start as identities: their output
projections are zero). ``--line-loss W`` adds a per-token loss (weight W, a linear probe on the
last hidden state, discarded after training) marking the lines of each answer that differ from
the passing one: dense supervision for the features a verdict needs.

    python scripts/judge_learnability.py --expert expert-text --pairs other-family --steps 600
"""

from __future__ import annotations

import argparse
import copy
import difflib
import random
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from gpu_ops.llm.transformers_backend import left_pad
from gpu_ops.prompts import VERDICT_PREFIX, judge_messages
from wc_demo import world
from wc_demo.experts import build_demo_experts
from wc_foundation.storage import Home
from wc_foundation.warehouse import query

PAIR_KINDS = ("other-family", "same-family", "mistakes")
BATTLES_SQL = """
with execution as (
    select
        instruction_id,
        model_a,
        model_b,
        case winner when 'model_a' then 1 when 'model_b' then -1 else 0 end as verdict
    from battle_votes
    where judge_kind = 'execution' and winner <> 'invalid' and ? not in (model_a, model_b)
)
select i.instruction, a.response as response_a, b.response as response_b, e.verdict
from execution as e
inner join instructions_for_battle as i using (instruction_id)
inner join stg_responses as a on a.instruction_id = e.instruction_id and a.responder = e.model_a
inner join stg_responses as b on b.instruction_id = e.instruction_id and b.responder = e.model_b
order by e.instruction_id, e.model_a, e.model_b
"""


class JudgePrompts:
    """Token ids of judge prompts (ending at the verdict prefix) and per-token line labels."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        self.verdict_ids = [
            tokenizer(label, add_special_tokens=False)["input_ids"][0] for label in ("A", "B")
        ]

    def encode(
        self, instruction: str, first: str, second: str, passing: str | None = None
    ) -> tuple[list[int], list[int]]:
        """(ids, labels): label 1 on tokens of a line not in ``passing``, 0 elsewhere in the
        answers, -100 outside them (or everywhere without ``passing``)."""
        messages = judge_messages(instruction, first, second, "logprob", system=False)
        text = (
            self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            + VERDICT_PREFIX
        )
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        char_labels = [-100] * len(text)
        if passing is not None:
            start_a = text.index(first)
            start_b = text.index(second, start_a + len(first))
            char_labels[start_a : start_a + len(first)] = _line_labels(passing, first)
            char_labels[start_b : start_b + len(second)] = _line_labels(passing, second)
        labels = [max(char_labels[s:e], default=-100) for s, e in encoded["offset_mapping"]]
        return encoded["input_ids"], labels


def _line_labels(passing: str, answer: str) -> list[int]:
    """Per character of ``answer``: 1 on lines that a line diff does not match in ``passing``."""
    lines = answer.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=passing.splitlines(keepends=True), b=lines, autojunk=False)
    matched = set()
    for block in matcher.get_matching_blocks():
        matched.update(range(block.b, block.b + block.size))
    return [lab for i, line in enumerate(lines) for lab in [int(i not in matched)] * len(line)]


def failing_answer(task: world.Task, kind: str, pool: list[world.Task], rng: random.Random):
    """An answer to ``task`` that fails its hidden tests, of the given kind (None: draw again)."""
    if kind == "mistakes":
        return world.wrong_answer(task, rng)
    other = rng.choice(pool)
    if (other.family != task.family) != (kind == "other-family"):
        return None
    if kind == "same-family" and world.test_asserts(task.family, other.steps) == world.test_asserts(
        task.family, task.steps
    ):
        return None
    return other.response


def labelled_pairs(prompts: JudgePrompts, tasks, kind, n, rng):
    """n prompts (both orders of n/2 pairs): ((ids, line labels), verdict index 0=A, 1=B)."""
    rows = []
    while len(rows) < n:
        task = rng.choice(tasks)
        wrong = failing_answer(task, kind, tasks, rng)
        if wrong is None:
            continue
        passing = task.response
        rows.append((prompts.encode(task.instruction, passing, wrong, passing), 0))
        rows.append((prompts.encode(task.instruction, wrong, passing, passing), 1))
    rng.shuffle(rows)
    return rows[:n]


def stacked(model, layers: int):
    """The model with its decoder layers cycled up to ``layers``; new ones start as identities."""
    trained = len(model.model.layers)
    if layers <= trained:
        return model
    config = copy.deepcopy(model.config)
    config.num_hidden_layers = layers
    deeper = type(model)(config)
    state = deeper.state_dict()
    source = model.state_dict()
    for key in state:
        if key in source:
            state[key] = source[key].clone()
        elif key.startswith("model.layers."):
            index = int(key.split(".")[2])
            twin = key.replace(f"model.layers.{index}.", f"model.layers.{index % trained}.", 1)
            state[key] = torch.zeros_like(source[twin]) if _is_output(key) else source[twin].clone()
    deeper.load_state_dict(state)
    return deeper


def _is_output(key: str) -> bool:
    return "o_proj" in key or "down_proj" in key


class Judge:
    """The model's verdict logits over A/B at the prompt's last position (left-padded batches)."""

    def __init__(self, model, prompts: JudgePrompts) -> None:
        self.model = model
        self.prompts = prompts
        self.pad = prompts.tokenizer.pad_token_id

    def forward(
        self, sequences: list[list[int]], choices: list[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = left_pad(sequences, self.pad)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        hidden = self.model.model(
            input_ids=ids, attention_mask=mask, position_ids=positions
        ).last_hidden_state
        choices = choices or self.prompts.verdict_ids
        return self.model.lm_head(hidden[:, -1])[:, choices], hidden

    @torch.no_grad()
    def accuracy(self, rows) -> float:
        correct = 0
        for start in range(0, len(rows), 32):
            chunk = rows[start : start + 32]
            picks = self.forward([ids for (ids, _), _ in chunk])[0].argmax(1)
            correct += sum(int(p) == y for p, (_, y) in zip(picks, chunk, strict=True))
        return correct / len(rows)

    @torch.no_grad()
    def agreement(self, battles) -> float:
        """Both orders per battle; the battle verdict is the sign of the two votes, as the
        `judge_battle_verdicts` mart takes it."""
        agree = 0
        for start in range(0, len(battles), 32):
            chunk = battles[start : start + 32]
            first = self.forward([ab for ab, _, _ in chunk])[0].argmax(1)
            swapped = self.forward([ba for _, ba, _ in chunk])[0].argmax(1)
            for f, s, (_, _, truth) in zip(first, swapped, chunk, strict=True):
                votes = (1 if int(f) == 0 else -1) + (1 if int(s) == 1 else -1)
                agree += (votes > 0) - (votes < 0) == truth
        return agree / len(battles)


def matching_prompts(tokenizer, tasks, n: int, rng: random.Random):
    """The warm-up task: an instruction and one step phrase, "is this step asked for?" (0 yes,
    half the time a phrase of the instruction, else one of another step of its family)."""
    rows = []
    for _ in range(n):
        task = rng.choice(tasks)
        if rng.random() < 0.5:
            phrase, label = rng.choice(task.phrases), 0
        else:
            others = [
                s for s in world.FAMILY_BY_NAME[task.family].steps if s.name not in task.steps
            ]
            phrase, label = rng.choice(rng.choice(others).phrases), 1
        question = f"{task.instruction}\n\nIs this step asked for: {phrase}"
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
        rows.append((tokenizer(text, add_special_tokens=False)["input_ids"], label))
    return rows


def warm_up_matching(judge: Judge, train_tasks, heldout_tasks, args) -> None:
    """``--matching-steps`` of the warm-up task (batch 2x, constant ``--matching-lr``)."""
    tokenizer = judge.prompts.tokenizer
    answers = [tokenizer(x, add_special_tokens=False)["input_ids"][0] for x in ("Yes", "No")]
    rng = random.Random(args.seed + 1)
    heldout = matching_prompts(tokenizer, heldout_tasks, 300, random.Random(9))
    optimizer = torch.optim.AdamW(judge.model.parameters(), lr=args.matching_lr, weight_decay=0)
    started = time.perf_counter()
    for step in range(1, args.matching_steps + 1):
        batch = matching_prompts(tokenizer, train_tasks, 2 * args.batch, rng)
        logits = judge.forward([ids for ids, _ in batch], answers)[0]
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y for _, y in batch]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(judge.model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if step % args.every == 0 or step == args.matching_steps:
            with torch.no_grad():
                judge.model.eval()
                picks = [
                    int(p)
                    for k in range(0, len(heldout), 50)
                    for p in judge.forward([i for i, _ in heldout[k : k + 50]], answers)[0].argmax(
                        1
                    )
                ]
                judge.model.train()
            correct = sum(p == y for p, (_, y) in zip(picks, heldout, strict=True))
            print(
                f"matching step {step:5d}  loss {loss.item():.3f}  held-out "
                f"{correct / len(heldout):.3f}  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expert", default="expert-text")
    parser.add_argument("--model", type=Path, help="a model directory instead of the built expert")
    parser.add_argument("--models-dir", type=Path, default=Path(".warriorcoder/models"))
    parser.add_argument("--pairs", choices=PAIR_KINDS, default="mistakes")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4)  # 3e-3 collapses (DEMO.md)
    parser.add_argument("--family", help="pairs of this world family only (default: all)")
    parser.add_argument("--layers", type=int, default=0, help="stack to this many layers")
    parser.add_argument("--line-loss", type=float, default=0.0)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--matching-steps", type=int, default=0, help="warm-up task first")
    parser.add_argument("--matching-lr", type=float, default=3e-4)
    parser.add_argument("--home", type=Path, help="a demo run's home: agreement on its battles")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model_dir = args.model or build_demo_experts(args.models_dir)[args.expert]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompts = JudgePrompts(tokenizer)
    model = stacked(AutoModelForCausalLM.from_pretrained(model_dir), args.layers)
    judge = Judge(model, prompts)
    rng = random.Random(args.seed)

    def chosen(task: world.Task) -> bool:
        return args.family is None or task.family == args.family

    training_tasks = [t for t in world.training_tasks(seed=0) if chosen(t)]
    train = labelled_pairs(prompts, training_tasks, args.pairs, args.steps * args.batch, rng)
    heldout_tasks = [
        t for t in world.all_tasks(seed=4) if world.is_heldout(t.family, t.steps) and chosen(t)
    ]
    heldout = labelled_pairs(prompts, heldout_tasks, args.pairs, 200, random.Random(7))
    battles = []
    if args.home:
        for row in query(Home.resolve(args.home), BATTLES_SQL, [args.expert]).iter_rows(named=True):
            ab = prompts.encode(row["instruction"], row["response_a"], row["response_b"])[0]
            ba = prompts.encode(row["instruction"], row["response_b"], row["response_a"])[0]
            battles.append((ab, ba, row["verdict"]))

    probe = torch.nn.Linear(model.config.hidden_size, 2)
    parameters = [*model.parameters(), *probe.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, weight_decay=0.0)
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then linear decay to 0
        optimizer,
        lambda s: min((s + 1) / warmup, (args.steps - s) / max(1, args.steps - warmup)),
    )

    def report(step: int, loss: float, started: float) -> None:
        model.eval()
        line = f"step {step:5d}  loss {loss:.3f}  held-out pairs {judge.accuracy(heldout):.3f}"
        if battles:
            line += f"  agreement with execution {judge.agreement(battles):.3f}"
        print(f"{line}  ({time.perf_counter() - started:.0f} s)", flush=True)
        model.train()

    if args.matching_steps:
        warm_up_matching(judge, training_tasks, heldout_tasks, args)
    print(f"{args.expert}: {len(train)} prompts of {args.pairs} pairs, {len(battles)} battles")
    started = time.perf_counter()
    report(0, float("nan"), started)
    running = None
    model.train()
    for step in range(1, args.steps + 1):
        batch = train[(step - 1) * args.batch : step * args.batch]
        logits, hidden = judge.forward([ids for (ids, _), _ in batch])
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y for _, y in batch]))
        if args.line_loss > 0:
            width = hidden.shape[1]
            labels = torch.full((len(batch), width), -100)
            for row, ((_, line_labels), _) in enumerate(batch):
                labels[row, width - len(line_labels) :] = torch.tensor(line_labels)
            line_loss = torch.nn.functional.cross_entropy(
                probe(hidden).reshape(-1, 2), labels.reshape(-1), ignore_index=-100
            )
            loss = loss + args.line_loss * line_loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % args.every == 0 or step == args.steps:
            report(step, running, started)


if __name__ == "__main__":
    main()
