"""Named crash points for fault tests: SIGKILL this process the n-th time a point is reached.

`WC_FAILPOINTS="llm.judgments.committed=2,embeddings.batch=1"` makes the process kill itself
with SIGKILL (no cleanup, no `finally`, exactly like the OOM killer or a pulled plug) right
after the second committed batch of judge calls, or after the first embedding batch. The points
sit where a real crash does the most harm: just after durable progress and before the stage's
own output is written. Unset (the normal case) a point costs one environment lookup.

Points: `llm.<purpose>.committed` (after a batch of LLM calls, or one served expert's reply, is
committed to the call cache;
purpose is the asking asset: instructions_mined, instruction_scores, responses, judgments,
evaluation), `execution.committed` (after one sandbox run's outcome or answers are committed to
the execution cache, as each run returns), `bootstrap.committed` (after a part of a rating
bootstrap's rounds is committed to the row store), `embeddings.batch` (after an embedding batch),
`sft.checkpoint` (after the SFT trainer saved a checkpoint, in the training process).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV_VAR = "WC_FAILPOINTS"
_reached: Counter[str] = Counter()


def armed_points(spec: str | None) -> dict[str, int]:
    """Parse `name=n,name2=m` (n >= 1; a bare name means 1) into {name: n}."""
    points: dict[str, int] = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, count = item.partition("=")
        hits = int(count) if count else 1
        if hits < 1:
            raise ValueError(f"{ENV_VAR}: {item!r} needs a count >= 1")
        points[name.strip()] = hits
    return points


def failpoint(name: str) -> None:
    """Reach the point `name`; SIGKILL this process if it is armed for this many hits."""
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    wanted = armed_points(spec).get(name)
    if wanted is None:
        return
    _reached[name] += 1
    if _reached[name] == wanted:
        os.kill(os.getpid(), signal.SIGKILL)
