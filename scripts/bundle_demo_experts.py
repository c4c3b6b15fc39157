"""Train the demo experts, their judge and the sweeps' writers, and write them into the bundle.

Run after changing anything in the experts' recipe (wc_demo/experts.py, judging_phase.py,
the world, the tokenizer corpus): the tests of the bundle fail until then, and fresh machines
would train for ~90 CPU-minutes instead of installing the bundle in seconds. Builds already in
this machine's cache ($WC_MODEL_CACHE) of the same recipe are reused, not retrained.

    python scripts/bundle_demo_experts.py [--models-dir DIR] [--writers-only]
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
from wc_demo.sweep_arenas import share_writers
from wc_demo.sweeps import SHARES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path(".warriorcoder/models"))
    parser.add_argument(
        "--writers-only", action="store_true", help="bundle only the sweeps' writers"
    )
    args = parser.parse_args()
    if not args.writers_only:
        for slug, path in build_demo_experts(args.models_dir, use_bundle=False).items():
            out = bundle_expert(path)
            train = build_info(out)["train"]
            loss = train["judge"]["final_verdict_loss"]
            print(f"{slug}: {out} (phase 2 final verdict loss {loss})")
        judge = bundle_expert(build_demo_judge(args.models_dir, use_bundle=False))
        print(f"{judge.name}: {judge} (a writer of every family; judges by likelihood)")
    for share in SHARES:
        for slug, path in share_writers(args.models_dir, share, use_bundle=False).items():
            out = bundle_expert(path)
            print(f"{slug} at share {share:.2f}: {out}")
    print(f"bundle: {BUNDLE_DIR}")


if __name__ == "__main__":
    main()
