"""The evaluation stage's section: pass@k before and after SFT."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
)

from wc_foundation.config.base import _Strict


class EvaluationConfig(_Strict):
    benchmarks: tuple[str, ...] = Field(
        default=("humaneval",),
        description="humaneval (bundled); humaneval+, mbpp, mbpp+ (prepared once with "
        "`warriorcoder prepare-benchmarks --from FILE`); NAME:SRC; demo-world; a .jsonl path",
    )
    prompts: Literal["project", "evalplus"] = Field(
        default="project",
        description="project: this project's prompts; evalplus: EvalPlus's prompts, stops and "
        "answer extraction (as the paper's HumanEval(+)/MBPP(+) scores were measured)",
    )
    extra_jsonl: tuple[str, ...] = ()
    samples_per_problem: Annotated[int, Field(ge=1)] = 1
    temperature: Annotated[float, Field(ge=0.0)] = 0.0
    max_new_tokens: Annotated[int, Field(ge=1)] = 512
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    max_problems: Annotated[int, Field(ge=1)] | None = None
    base_prompt_style: Literal["completion", "chat"] = Field(
        default="completion",
        description="how the base target is prompted: completion (the raw function stub, as "
        "published base scores are measured) or chat; the fine-tuned target always gets chat",
    )
    allow_weak_isolation: bool = False  # run without the sandbox's full tier (see RELIABILITY.md)
    compare_conditions: bool = Field(
        default=False,
        description="the paper's comparison (asset `demo_effect`): also fine-tune the target on "
        "the same instructions answered by each single expert and by a random expert per "
        "instruction, with the same budget, and compare pass@1 on the first benchmark "
        "(trains the target 1 + experts + 1 more times; on in the demo)",
    )
    condition_seed: int = 0  # which expert the random-expert condition draws per instruction
