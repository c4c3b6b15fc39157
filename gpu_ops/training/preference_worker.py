"""Child-process entry for preference training: `python -m gpu_ops.training.preference_worker
JOB.json`. Progress goes to stdout as JSON lines; the last is {"event": "report", ...}; a failure
prints an error record and exits non-zero (as `sft_worker`)."""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
from pathlib import Path

from gpu_ops.training.preference import PreferenceParams, train_preference


def _print(record: dict) -> None:
    print(json.dumps(record, default=str), flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m gpu_ops.training.preference_worker JOB.json", file=sys.stderr)
        return 2
    try:
        job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        report = train_preference(
            job["model_path"],
            job["dataset_path"],
            job["out_dir"],
            PreferenceParams(**job.get("params", {})),
            log_callback=_print,
        )
    except Exception as exc:
        traceback.print_exc(file=sys.stdout)
        _print({"event": "error", "type": type(exc).__name__, "message": str(exc)})
        return 1
    _print({"event": "report", "report": dataclasses.asdict(report)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
