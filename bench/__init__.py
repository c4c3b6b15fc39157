"""Benchmarks: each module has `run(quick) -> dict` and prints ratios against a same-process baseline."""
