"""Child-process entry for SFT: `python -m gpu_ops.training.sft_worker JOB.json`.

Under `accelerate launch` every process runs this; rank 0 alone prints the log and the report.
Training runs here so its memory (model, optimizer, CUDA context) is released when the process
exits and never lives in the orchestrator. Progress goes to stdout as JSON lines; the last line is
{"event": "report", "report": {...}}. Any failure prints an error record and exits non-zero.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
from pathlib import Path

from gpu_ops.training.launch import is_main_process
from gpu_ops.training.sft import SFTParams, train_sft


def _print(record: dict) -> None:
    print(json.dumps(record, default=str), flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m gpu_ops.training.sft_worker JOB.json", file=sys.stderr)
        return 2
    try:
        job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        report = train_sft(
            job["model_path"],
            job["dataset_path"],
            job["out_dir"],
            SFTParams(**job.get("params", {})),
            log_callback=_print,
        )
    except Exception as exc:
        traceback.print_exc(file=sys.stdout)
        _print({"event": "error", "type": type(exc).__name__, "message": str(exc)})
        return 1
    if is_main_process():  # under `accelerate launch` every rank gets here; one report
        _print({"event": "report", "report": dataclasses.asdict(report)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
