"""Dedup throughput and quality: gpu_ops.curation.dedup vs datasketch MinHashLSH, in one process.

Corpus: seeded random documents over a word vocabulary, with planted near-duplicates (copies
of earlier documents with 2-25% of their words replaced, so true Jaccard ~0.6-0.96).
Throughput: documents/s of `find_duplicate_groups` on the whole corpus (exact hash, signatures,
LSH, grouping) vs datasketch (MinHash + MinHashLSH insert + query) on a subset; median of runs.
Quality: recall over sampled planted pairs with exact Jaccard >= threshold (same survivor?),
precision over sampled (dropped row, survivor) pairs (exact Jaccard >= threshold?).
Whole process (the figure the >= 10x target applies to): one JSONL file of `whole_docs`
documents (75k in the full mode, the size of the corpus the target was set on), deduplicated
by a fresh process each way: `warriorcoder dedup FILE --out OUT` (interpreter start, imports,
reading, dedup, writing survivors and the mapping; median of runs) against a fresh process
running datasketch on the same file (`--datasketch-file`: read, MinHash + MinHashLSH insert +
query of every document, write the survivors; one run, it takes minutes).

    python -m bench.bench_dedup [--quick] [--whole-docs N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.timing import PeakMemory, median_seconds, median_timed, run_command
from gpu_ops.curation.dedup import find_duplicate_groups, normalize_text

THRESHOLD = 0.5
NUM_PERM = 128
_WORD = re.compile(r"\w+")


def make_corpus(
    n_docs: int, *, duplicate_share: float = 0.2, seed: int = 0
) -> tuple[list[str], dict[int, int]]:
    """Documents of 20-80 words; `duplicate_share` of them are mutated copies (copy row -> original row)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(30_000)])
    n_unique = int(n_docs * (1 - duplicate_share))
    docs: list[str] = []
    for length in rng.integers(20, 81, size=n_unique):
        docs.append(" ".join(vocab[rng.integers(0, len(vocab), size=length)]))
    planted: dict[int, int] = {}
    for original in rng.integers(0, n_unique, size=n_docs - n_unique):
        words = docs[original].split()
        changes = max(1, int(len(words) * rng.uniform(0.02, 0.25)))
        for position in rng.choice(len(words), size=changes, replace=False):
            words[position] = vocab[rng.integers(0, len(vocab))]
        planted[len(docs)] = int(original)
        docs.append(" ".join(words))
    return docs, planted


def token_set(text: str) -> set[str]:
    return set(_WORD.findall(normalize_text(text)))


def exact_jaccard(a: str, b: str) -> float:
    left, right = token_set(a), token_set(b)
    return len(left & right) / max(len(left | right), 1)


def time_project(texts: list[str], repeats: int) -> tuple[float, pl.DataFrame]:
    ids = list(range(len(texts)))
    groups, seconds = median_timed(
        lambda: find_duplicate_groups(ids, texts, threshold=THRESHOLD, num_perm=NUM_PERM), repeats
    )
    return seconds, groups


def datasketch_pass(texts: list[str]) -> None:
    """One datasketch pass: MinHash + MinHashLSH insert of every text, then a query of each."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    sketches = []
    for key, text in enumerate(texts):
        sketch = MinHash(num_perm=NUM_PERM)
        sketch.update_batch([token.encode() for token in token_set(text)])
        lsh.insert(key, sketch)
        sketches.append(sketch)
    for sketch in sketches:
        lsh.query(sketch)


def time_datasketch(texts: list[str], repeats: int) -> float:
    return median_seconds(lambda: datasketch_pass(texts), repeats)


def datasketch_file(input_path: Path, out_path: Path) -> None:
    """The datasketch process of the whole-process comparison: read the file, run one
    datasketch pass that also keeps each document whose LSH query finds no smaller key, and
    write the survivors (what `warriorcoder dedup` writes, without the exact stage)."""
    from datasketch import MinHash, MinHashLSH

    frame = pl.read_ndjson(input_path)
    texts = frame.get_column("instruction").to_list()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    sketches = []
    for key, text in enumerate(texts):
        sketch = MinHash(num_perm=NUM_PERM)
        sketch.update_batch([token.encode() for token in token_set(text)])
        lsh.insert(key, sketch)
        sketches.append(sketch)
    keep = [min(lsh.query(sketch)) == key for key, sketch in enumerate(sketches)]
    frame.filter(pl.Series(keep)).write_parquet(out_path)


REPO = Path(__file__).resolve().parents[1]


def _timed_command(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and its threads) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_command(command, env=env, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"whole-process run failed:\n{result.output[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result.seconds, cpu


def whole_process(texts: list[str], repeats: int) -> dict[str, Any]:
    """Seconds of a whole process each way on one JSONL file (see the module docstring).

    The datasketch run sits between our first run and the others, so a change in the
    machine's load during the benchmark reaches both sides; CPU seconds are reported beside
    the wall time because they depend far less on that load.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        pl.DataFrame({"instruction": texts}).write_ndjson(corpus)
        ours = [sys.executable, "-m", "warriorcoder.cli", "dedup", str(corpus)]
        ours += ["--out", str(Path(tmp) / "ours.parquet")]
        theirs = [sys.executable, "-m", "bench.bench_dedup", "--datasketch-file", str(corpus)]
        theirs += ["--out", str(Path(tmp) / "datasketch.parquet")]
        runs = [_timed_command(ours, env)]
        baseline_wall, baseline_cpu = _timed_command(theirs, env)
        runs += [_timed_command(ours, env) for _ in range(max(repeats, 1) - 1)]
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    return {
        "whole_docs": len(texts),
        "whole_project_seconds": round(wall, 2),
        "whole_project_cpu_seconds": round(cpu, 2),
        "whole_datasketch_seconds": round(baseline_wall, 2),
        "whole_datasketch_cpu_seconds": round(baseline_cpu, 2),
        "whole_speedup": round(baseline_wall / wall, 1),
        "whole_cpu_speedup": round(baseline_cpu / cpu, 1),
    }


def quality(
    texts: list[str], planted: dict[int, int], groups: pl.DataFrame, sample: int, seed: int = 1
) -> dict:
    rng = np.random.default_rng(seed)
    survivor = groups["survivor_id"].to_numpy()
    copies = np.array(list(planted))
    copies = copies[rng.permutation(len(copies))[:sample]]
    true_pairs = [
        (c, planted[c]) for c in copies if exact_jaccard(texts[c], texts[planted[c]]) >= THRESHOLD
    ]
    found = sum(survivor[c] == survivor[o] for c, o in true_pairs)
    dropped = np.flatnonzero(groups["reason"].to_numpy() == "near")
    dropped = dropped[rng.permutation(len(dropped))[:sample]]
    correct = sum(exact_jaccard(texts[d], texts[survivor[d]]) >= THRESHOLD for d in dropped)
    return {
        "recall": found / max(len(true_pairs), 1),
        "precision": correct / max(len(dropped), 1),
        "recall_pairs": len(true_pairs),
        "precision_pairs": len(dropped),
    }


def run(quick: bool = False, smoke: bool = False, whole_docs: int | None = None) -> dict[str, Any]:
    """Full: 200k documents (baseline on 10k), whole process on 75k; quick: 20k (2k), whole
    process on 10k; smoke: 2k (300), whole process on 1k, one run."""
    if smoke:
        n_docs, n_baseline, repeats, n_whole = 2_000, 300, 1, 1_000
    elif quick:
        n_docs, n_baseline, repeats, n_whole = 20_000, 2_000, 3, 10_000
    else:
        n_docs, n_baseline, repeats, n_whole = 200_000, 10_000, 3, 75_000
    n_whole = whole_docs or n_whole
    whole = whole_process(make_corpus(n_whole, seed=1)[0], repeats)
    texts, planted = make_corpus(n_docs)
    with PeakMemory() as memory:
        project_s, groups = time_project(texts, repeats)
    baseline_s = time_datasketch(texts[:n_baseline], repeats)
    project_rate = n_docs / project_s
    baseline_rate = n_baseline / baseline_s
    return {
        "benchmark": "dedup",
        "docs": n_docs,
        "baseline_docs": n_baseline,
        "repeats": repeats,
        "project_seconds": round(project_s, 3),
        "project_docs_per_s": round(project_rate),
        "datasketch_docs_per_s": round(baseline_rate),
        "speedup": round(project_rate / baseline_rate, 1),
        **whole,
        "target_speedup": 10,
        "dropped": int((groups["reason"] != "survivor").sum()),
        **quality(texts, planted, groups, sample=200 if smoke else 500 if quick else 2000),
        "memory": memory.as_dict(),
    }


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    return [
        (
            "dedup (`bench_dedup`)",
            f"{result['docs']:,} synthetic documents with 20% planted near-duplicates: our "
            "MinHash-LSH pipeline (rensa signatures, numpy band hashes, union-find) vs datasketch "
            f"`MinHashLSH` insert + query (timed on {result['baseline_docs']:,} documents, "
            "compared in docs/s)",
            f"{result['project_docs_per_s']:,} vs {result['datasketch_docs_per_s']:,} docs/s: "
            f"**{result['speedup']}x**; recall {result['recall']:.3f}, precision "
            f"{result['precision']:.3f} against exact Jaccard >= {THRESHOLD} on sampled pairs; "
            f"peak RSS {result['memory']['peak_rss_mib']:,.0f} MiB",
            f">= {result['target_speedup']}x, >= 0.95",
        ),
        (
            "dedup, whole process (`bench_dedup`)",
            f"one JSONL file of {result['whole_docs']:,} such documents: a fresh "
            "`warriorcoder dedup FILE --out OUT` process (start-up, imports, read, dedup, write) "
            "vs a fresh process running datasketch on the same file (read, MinHash + "
            "`MinHashLSH` insert + query, write)",
            f"{result['whole_project_seconds']} s vs {result['whole_datasketch_seconds']} s wall: "
            f"**{result['whole_speedup']}x**; CPU {result['whole_project_cpu_seconds']} s vs "
            f"{result['whole_datasketch_cpu_seconds']} s: {result['whole_cpu_speedup']}x",
            f">= {result['target_speedup']}x",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k documents instead of 200k")
    parser.add_argument("--whole-docs", type=int, help="documents of the whole-process file")
    parser.add_argument("--datasketch-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.datasketch_file:  # the datasketch side of the whole-process comparison
        datasketch_file(args.datasketch_file, args.out)
        return
    print(json.dumps(run(quick=args.quick, whole_docs=args.whole_docs), indent=2))


if __name__ == "__main__":
    main()
