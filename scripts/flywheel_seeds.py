"""Does the flywheel's second round beat its first over seeds? Paired intervals per seed and
across seeds, with the control round beside it.

Each seed runs `warriorcoder flywheel` (the same rounds, controls and mining seeds) with
`target.sft.seed` set to it, in one home: the arena of round 1 is computed once and answered by
the call cache afterwards; round 2 differs per seed from the trained target that joins it on.
So the spread is what SFT randomness does, directly and through the expert it makes. The paired
difference of two rounds is taken per seed on the same held-out tasks; across seeds its mean gets
a Student t interval (docs/DEMO.md, "The flywheel").

    python scripts/flywheel_seeds.py --config configs/demo.yaml --seeds 0 1 2 3 4 --rounds 2

`evaluation.compare_conditions` is switched off (the plugins' comparison of training conditions
trains the target three more times per seed and is not what this measures).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: scripts/ too

from gpu_ops.evaluation.paired import paired_t_interval
from scripts.compare_variants import variant_config
from warriorcoder.flywheel import run_flywheel
from wc_foundation.storage import Home


def seeded_config(config: Path, seed: int, out: Path, home: Home) -> Path:
    """The config with the target's seeds set to `seed` and no comparison of conditions: the
    comparison script's variant with no overrides."""
    return variant_config(config, {}, seed, out, home)


def comparisons(report: dict) -> dict[str, float]:
    """One seed's paired differences (same tasks), by name."""
    found = {}
    for entry in report["paired"]:
        subject = f"round {entry['round']}" if "round" in entry else f"control {entry['control']}"
        found[f"{subject} - {entry['against']}"] = entry["diff"]
    return found


def across_seeds(reports: list[dict]) -> dict[str, dict]:
    """Per comparison: every seed's difference, the mean and its 95% t interval."""
    names = comparisons(reports[0])
    summary = {}
    for name in names:
        values = [comparisons(r)[name] for r in reports]
        entry: dict = {"values": values}
        if len(values) > 1:
            entry |= paired_t_interval(values).as_dict()
        summary[name] = entry
    for kind in ("rounds", "controls"):
        for index, first in enumerate(reports[0][kind]):
            values = [r[kind][index]["pass_at_1"] for r in reports]
            summary[f"{first['kind']} {first['round']} pass@1"] = {"values": values}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/demo.yaml"))
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    home = Home.resolve(args.home)
    reports = []
    out = home.reports / "flywheel_seeds.json"
    with tempfile.TemporaryDirectory(prefix="flywheel_seeds_") as tmp:
        for seed in args.seeds:
            config = seeded_config(args.config, seed, Path(tmp) / f"seed{seed}.yaml", home)
            report = run_flywheel(config, home, rounds=args.rounds, name=f"flywheel-seed{seed}")
            reports.append({"seed": seed, **report})
            print(f"seed {seed}: {json.dumps(comparisons(report))}", flush=True)
            result = {"seeds": [r["seed"] for r in reports], "summary": across_seeds(reports)}
            out.write_text(json.dumps({**result, "reports": reports}, indent=2), encoding="utf-8")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
