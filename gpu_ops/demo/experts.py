"""Tiny chat experts with complementary strengths by construction, for the demo and its tests.

No real model weights can be downloaded here, so the arena needs experts built locally. Each is a
small Llama (64-wide attention heads, so `backend: vllm` can serve it) trained with the project's
own `train_sft` on the demo world (`gpu_ops.demo.world`):

1. **Writing.** Instructions and answers, mostly of the expert's own family of tasks (every
   training composition of it) plus a small share of the other families. The loss covers the user
   turn too, so the expert can mine instructions Magpie-style from the bare pre-query template.
2. **Judging (off by default, `judge_rows > 0`).** Pairwise judge prompts (the arena's own
   `judge_messages`) over a correct and a wrong answer, labelled by the world's hidden tests,
   over every family, plus an assistant-only replay of phase 1. Measured on these 2-layer,
   128-wide models: 1,500 to 9,000 labelled pairs (2 to 6 CPU-minutes per expert) did not teach
   them to judge. They settle on one position (held-out pair accuracy 0.46 to 0.61), and the
   phase wipes out mining (the bare pre-query template then yields " d [[A]]").
   `scripts/judge_learnability.py` measures the learning curve with a verdict-only loss: the
   experts learn within 100 steps to reject another family's program, but not, in 32,000
   pairs, an answer of the right family with a step or two off, which is what the battles ask,
   at the write phase's learning rate (3e-3 collapses them to a constant verdict; 3e-4 learns
   a short matching task but had not yet learned the judge prompt: docs/DEMO.md, section 2).
   So the demo's LLM judges are the writers as they are, and `demo_effect` reports them
   against the execution judge (`judge_vs_execution`).

    expert-text     writes text tasks well; sees 3% of the list and number tasks
    expert-lists    writes list tasks well; sees 3% of the others
    expert-numbers  writes number tasks well; sees 3% of the others

So no expert is best everywhere and the best answer to an instruction comes from the expert whose
family it belongs to, the paper's premise. Held-out compositions (`world.is_heldout`) are in no
expert's data: they are the demo's benchmark. The target is a base code LM of the same shape
(`build_demo_target`), fine-tuned later on whatever the arena (or a baseline) gives it.

A finished build is stamped with its inputs and reused. It is also kept in a cache outside the
home (`$WC_MODEL_CACHE`, default `~/.cache/warriorcoder/demo-models`), so a fresh clone or a
fresh home on the same machine copies it instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from gpu_ops.demo import world
from gpu_ops.demo.tiny_model import build_tiny_model, build_tokenizer
from gpu_ops.errors import InputError
from gpu_ops.prompts import VERDICT_PREFIX, judge_messages, scoring_messages
from gpu_ops.sft_data.sft_export import to_chat_messages
from gpu_ops.training.sft import SFTParams, train_sft

MAX_SEQ_LEN = 512  # judge prompts are ~300 tokens of the world tokenizer
# Positions the config declares (RoPE, no learned positions: the weights do not depend on it).
# vLLM refuses prompts longer than max_position_embeddings.
MAX_POSITIONS = 2048
VOCAB_SIZE = 1024
TARGET_SLUG = "target-tiny"
_STAMP = "demo_expert.json"
_VERSION = 4  # 4: the demo world (complementary families)
CACHE_ENV = "WC_MODEL_CACHE"
TIE_SHARE = 0.2
# The experts learn the judge prompt without its system turn, as configs/demo.yaml asks them
# (`judging.system_prompt: none`): they never saw a system turn, and it is 150 tokens to carry.
JUDGE_SYSTEM_TURN = False


@dataclass(frozen=True)
class DemoExpert:
    """One demo expert: its family, architecture and training budget."""

    slug: str
    focus: str  # the world family it writes best
    other_share: float  # share of every other family's training tasks it also learns to write
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2  # x head_dim 64 = 128-wide attention
    intermediate_size: int = 256
    head_dim: int = 64  # vLLM's CPU attention rejects small heads (16 fails, 64 works)
    write_epochs: float = 5.0
    judge_rows: int = 0  # phase 2 off by default: measured, see the module docstring
    judge_epochs: float = 2.0
    learning_rate: float = 3e-3
    batch_size: int = 16
    max_steps: int = -1  # > 0 caps each phase (quick builds for tests)
    seed: int = 0

    @property
    def description(self) -> str:
        return (
            f"writes {self.focus} tasks well ({self.other_share:.0%} of the other families); "
            "judges every family"
        )


DEMO_EXPERTS: tuple[DemoExpert, ...] = (
    DemoExpert(slug="expert-text", focus="text", other_share=0.03, seed=1),
    DemoExpert(slug="expert-lists", focus="lists", other_share=0.03, seed=2),
    DemoExpert(slug="expert-numbers", focus="numbers", other_share=0.03, seed=3),
)
TARGET_ARCH = {"hidden_size": 128, "num_layers": 2, "num_heads": 2, "intermediate_size": 256}
TARGET_PRETRAIN_STEPS = 240  # ~3 passes over the world's programs

# Quick mode (tests): same roles, one-layer models and a handful of steps per phase.
_QUICK = {"hidden_size": 64, "num_layers": 1, "num_heads": 1, "intermediate_size": 64}


def quick_variant(expert: DemoExpert) -> DemoExpert:
    """A seconds-long build of the same expert (tests of the plumbing; it learns little)."""
    return replace(expert, **_QUICK, max_steps=3)


def write_rows(expert: DemoExpert) -> list[dict]:
    """Phase 1 data: the expert's family in full, a seeded share of the others."""
    rng = random.Random(expert.seed)
    rows = []
    for task in world.training_tasks(seed=expert.seed):
        if task.family == expert.focus or rng.random() < expert.other_share:
            rows.append(_chat_row(f"write-{task.key}", task.instruction, task.response))
    return rows


def judge_rows(n: int, seed: int) -> list[dict]:
    """Phase 2 data: judge prompts over two answers, labelled by the world's hidden tests.

    Most pairs are a correct answer against a wrong one: what a non-specialist writes (the
    asked step's comment over another step's code, another step altogether, a dropped step, or
    the steps in the wrong order); the passing one wins, shown first or second equally often, so
    position carries no information. TIE_SHARE of the pairs are answers that pass or fail
    alike: the same correct answer twice, or two different wrong ones, labelled Tie.
    """
    rng = random.Random(seed)
    tasks = world.training_tasks(seed=seed)
    rows = []
    while len(rows) < n:
        task = rng.choice(tasks)
        wrong = world.wrong_answer(task, rng)
        if wrong is None:
            continue
        draw = rng.random()
        if draw < TIE_SHARE / 2:
            first, second, label = task.response, task.response, "Tie"
        elif draw < TIE_SHARE:
            other = world.wrong_answer(task, rng)
            if other is None or other == wrong:
                continue
            first, second, label = wrong, other, "Tie"
        elif draw < (1 + TIE_SHARE) / 2:
            first, second, label = task.response, wrong, "A"
        else:
            first, second, label = wrong, task.response, "B"
        messages = judge_messages(
            task.instruction, first, second, "logprob", system=JUDGE_SYSTEM_TURN
        )
        rows.append(
            {
                "instruction_id": f"judge-{seed}-{len(rows)}",
                "messages": [
                    *messages,
                    {"role": "assistant", "content": f"{VERDICT_PREFIX}{label}]]"},
                ],
            }
        )
    return rows


def _chat_row(row_id: str, instruction: str, response: str) -> dict:
    return {"instruction_id": row_id, "messages": to_chat_messages(instruction, response)}


def tokenizer_corpus() -> str:
    """World instructions and answers plus the arena's prompt texts: what the experts will read."""
    rng = random.Random(0)
    tasks = world.all_tasks(seed=0)
    lines = []
    for task in tasks:
        lines += [task.instruction, task.response]
    for task in rng.sample(tasks, 200):
        wrong = world.wrong_answer(task, rng) or task.response
        for message in judge_messages(
            task.instruction, task.response, wrong, "logprob", system=True
        ):
            lines.append(message["content"])
        for message in scoring_messages(task.instruction, "logprob"):
            lines.append(message["content"])
    return "\n".join(lines)


def build_demo_experts(models_dir: str | Path, *, quick: bool = False) -> dict[str, Path]:
    """Build (or reuse) every demo expert; returns {slug: HF model dir}.

    Full builds live in <models_dir>/demo/<slug>/, quick ones in <models_dir>/demo_quick/<slug>/.
    """
    root = _root(models_dir, quick)
    tokenizer_dir = _tokenizer(root)
    built = {}
    for expert in DEMO_EXPERTS:
        spec = quick_variant(expert) if quick else expert
        built[expert.slug] = _build_expert(root, spec, tokenizer_dir)
    return built


def build_demo_target(models_dir: str | Path, *, quick: bool = False) -> Path:
    """The demo's base target at <root>/target-tiny: a tiny code LM, never instruction-tuned.

    Like the paper's base model (a code LM pretrained on code, not on instructions), it is
    pretrained on the world's programs as plain text (`pretraining_corpus`), without any
    instruction or chat turn: it knows the code but not the tasks, so prompted with an
    instruction it does not know what to write (pass@1 ~0); following instructions it learns
    from the SFT data. Held-out compositions are not in its corpus.
    """
    root = _root(models_dir, quick)
    tokenizer_dir = _tokenizer(root)
    arch = _QUICK if quick else TARGET_ARCH
    init = build_tiny_model(
        root / "_work" / "target-init",
        tokenizer_dir=tokenizer_dir,
        seed=0,
        head_dim=64,
        max_position_embeddings=MAX_POSITIONS,
        **arch,
    )
    corpus = pretraining_corpus()
    steps = 4 if quick else TARGET_PRETRAIN_STEPS
    stamp = {
        "version": _VERSION,
        "kind": "target",
        "arch": arch,
        "corpus": _sha("".join(corpus)),
        "steps": steps,
        "tokenizer": _sha((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8")),
    }
    out = root / TARGET_SLUG
    if _stamp_matches(out, stamp) or _restore_from_cache(out, stamp):
        return out
    work = root / "_work" / "target-pretrain"
    started = time.perf_counter()
    final_loss = pretrain_lm(init, corpus, work, steps=steps, seed=0)
    stamp["train"] = {
        "steps": steps,
        "final_loss": final_loss,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    _install(work, out, stamp)
    _save_to_cache(out, stamp)
    shutil.rmtree(work, ignore_errors=True)
    return out


def pretraining_corpus() -> list[str]:
    """The base target's corpus: every training composition's program, as plain code.

    Like code on the web, the programs carry comments (one per step, in the world's words), but
    no instruction, no chat turn and no held-out composition. Measured: pretraining on them
    doubles what the target learns from 240 SFT rows (pass@1 0.20 -> 0.40 on the held-out
    tasks), while pretraining without the comments did not help (0.13)."""
    return [
        world.reference_code(task.family, task.steps, task.phrases)
        for task in world.training_tasks(seed=0)
    ]


def pretrain_lm(
    model_dir: Path,
    documents: list[str],
    out: Path,
    *,
    steps: int,
    seed: int,
    block: int = 128,
    batch_size: int = 16,
    learning_rate: float = 3e-3,
) -> float:
    """Plain causal-LM training on documents packed into fixed blocks (no chat, no TRL).

    Pretraining has no turns to mask, so the SFT path does not fit; a dozen lines of torch do.
    Returns the last step's loss; saves the model and tokenizer to ``out``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = tokenizer("\n\n".join(documents) + "\n\n")["input_ids"]
    n_blocks = len(ids) // block
    if n_blocks < 1:
        raise InputError(f"pretraining corpus too small: {len(ids)} tokens for blocks of {block}")
    data = torch.tensor(ids[: n_blocks * block]).view(n_blocks, block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, total_steps=steps, pct_start=0.05
    )
    generator = torch.Generator().manual_seed(seed)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        batch = data[torch.randint(0, n_blocks, (batch_size,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return round(float(loss.detach()), 4)


def _root(models_dir: str | Path, quick: bool) -> Path:
    return Path(models_dir) / ("demo_quick" if quick else "demo")


def _tokenizer(root: Path) -> Path:
    text = tokenizer_corpus()
    # the tokenizer's stamp names its corpus files: the name carries the content's hash
    corpus = root / "_work" / f"tokenizer_corpus-{_sha(text)[:12]}.txt"
    if not corpus.is_file():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        corpus.write_text(text, encoding="utf-8")
    return build_tokenizer(root / "tokenizer", vocab_size=VOCAB_SIZE, corpus_files=[corpus])


def model_cache_dir() -> Path:
    """Where finished builds are kept across homes and clones ($WC_MODEL_CACHE)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "warriorcoder" / "demo-models"


def _build_expert(root: Path, expert: DemoExpert, tokenizer_dir: Path) -> Path:
    """Random init -> phase 1 (writing) [-> phase 2 (judging)] -> <root>/<slug>, stamped."""
    writing = write_rows(expert)
    payloads = {"write": _jsonl(writing)}
    if expert.judge_rows > 0:
        judging = judge_rows(expert.judge_rows, seed=100 + expert.seed)
        replay = random.Random(expert.seed).sample(writing, min(len(writing), len(judging) // 3))
        payloads["judge"] = _jsonl(judging + replay)
    stamp = {
        "version": _VERSION,
        "expert": asdict(expert),
        "data": {name: _sha(text) for name, text in payloads.items()},
        "tokenizer": _sha((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8")),
    }
    out = root / expert.slug
    if _stamp_matches(out, stamp) or _restore_from_cache(out, stamp):
        return out
    work = root / "_work" / expert.slug
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name, text in payloads.items():
        (work / f"{name}.jsonl").write_text(text, encoding="utf-8")
    model = build_tiny_model(
        work / "init",
        tokenizer_dir=tokenizer_dir,
        hidden_size=expert.hidden_size,
        num_layers=expert.num_layers,
        num_heads=expert.num_heads,
        head_dim=expert.head_dim,
        intermediate_size=expert.intermediate_size,
        max_position_embeddings=MAX_POSITIONS,
        seed=expert.seed,
    )
    started = time.perf_counter()
    phases = {}
    phase_plan = [("write", expert.write_epochs, True), ("judge", expert.judge_epochs, False)]
    for name, epochs, full_loss in (p for p in phase_plan if p[0] in payloads):
        report = train_sft(
            model, work / f"{name}.jsonl", work / name, _sft_params(expert, epochs, full_loss)
        )
        model = Path(report.output_dir)
        phases[name] = {
            "steps": report.steps,
            "tokens": report.tokens,
            "seconds": round(report.seconds, 1),
            "final_train_loss": report.final_train_loss,
            "rows": report.train_rows,
        }
    stamp["train"] = {**phases, "wall_seconds": round(time.perf_counter() - started, 1)}
    _install(model, out, stamp)
    _save_to_cache(out, stamp)
    shutil.rmtree(work, ignore_errors=True)
    return out


def _sft_params(expert: DemoExpert, epochs: float, full_loss: bool) -> SFTParams:
    return SFTParams(
        learning_rate=expert.learning_rate,
        warmup_ratio=0.05,
        num_train_epochs=epochs,
        max_steps=expert.max_steps,
        max_seq_len=MAX_SEQ_LEN,
        per_device_train_batch_size=expert.batch_size,
        seed=expert.seed,
        logging_steps=50,
        save_steps=10_000,  # minutes-long builds: no intermediate checkpoints
        validation_fraction=0.0,  # the benchmark's compositions are never in the data
        # Magpie-style mining asks an expert to write the *user* turn: real instruct models learned
        # that distribution in pre-training; these random-init ones learn it in phase 1. Phase 2
        # trains the verdict only, so judge prompts never become something the expert mines.
        train_on_prompt=full_loss,
    )


def _install(model_dir: Path, out: Path, stamp: dict) -> None:
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp)
    (tmp / _STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def _cache_entry(stamp: dict) -> Path:
    key = {k: v for k, v in stamp.items() if k != "train"}
    return model_cache_dir() / _sha(json.dumps(key, sort_keys=True))[:16]


def _restore_from_cache(out: Path, stamp: dict) -> bool:
    entry = _cache_entry(stamp)
    if not _stamp_matches(entry, stamp):
        return False
    saved = json.loads((entry / _STAMP).read_text(encoding="utf-8"))
    _install(entry, out, saved)
    return True


def _save_to_cache(out: Path, stamp: dict) -> None:
    """Best effort: a read-only or full cache only costs the next home a rebuild."""
    try:
        entry = _cache_entry(stamp)
        entry.parent.mkdir(parents=True, exist_ok=True)
        _install(out, entry, stamp)
    except OSError:
        pass


def _stamp_matches(out: Path, stamp: dict) -> bool:
    path = out / _STAMP
    if not path.is_file() or not (out / "config.json").is_file():
        return False
    saved = json.loads(path.read_text(encoding="utf-8"))
    return all(saved.get(k) == json.loads(json.dumps(v)) for k, v in stamp.items() if k != "train")


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_info(model_dir: str | Path) -> dict:
    """The stamp of a built expert (config, data hashes, training summary)."""
    path = Path(model_dir) / _STAMP
    if not path.is_file():
        raise InputError(f"{model_dir} is not a built demo expert (no {_STAMP})")
    return json.loads(path.read_text(encoding="utf-8"))
