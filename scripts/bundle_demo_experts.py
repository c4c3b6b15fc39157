"""Train the demo experts from scratch and write them into the package's bundle.

Run after changing anything in the experts' recipe (wc_demo/experts.py, judging_phase.py,
the world, the tokenizer corpus): the test of the bundle fails until then, and fresh machines
would train for ~90 CPU-minutes instead of installing the bundle in seconds.

    python scripts/bundle_demo_experts.py [--models-dir DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wc_demo.experts import (
    BUNDLE_DIR,
    build_demo_experts,
    build_demo_judge,
    build_info,
    bundle_expert,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path(".warriorcoder/models"))
    args = parser.parse_args()
    for slug, path in build_demo_experts(args.models_dir, use_bundle=False).items():
        out = bundle_expert(path)
        train = build_info(out)["train"]
        print(f"{slug}: {out} (phase 2 final verdict loss {train['judge']['final_verdict_loss']})")
    judge = bundle_expert(build_demo_judge(args.models_dir, use_bundle=False))
    print(f"{judge.name}: {judge} (a writer of every family; judges by likelihood)")
    print(f"bundle: {BUNDLE_DIR}")


if __name__ == "__main__":
    main()
