"""The arena stage's sections: competitors' responses, LLM judges and the execution judge."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
)

from wc_foundation.config.base import WorldName, _sampling, _Strict
from wc_foundation.config.models import ModelConfig


class ResponseConfig(_Strict):
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.95
    max_new_tokens: Annotated[int, Field(ge=1)] = 2048
    system_prompt: str | None = Field(
        default=None, description="system turn before each instruction (None: the model's default)"
    )
    seed: int = 0
    pairing: Literal["all", "attacker_defender"] = "all"

    def sampling(self):
        """What every competitor samples its answers with."""
        return _sampling(self.temperature, self.top_p, self.max_new_tokens)


class ExecutionJudgeConfig(_Strict):
    enabled: bool = True
    weight: Annotated[float, Field(ge=0.0)] = 1.0
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    memory_mb: Annotated[int, Field(ge=32)] = 512
    allow_weak_isolation: bool = False  # run without the sandbox's full tier (see RELIABILITY.md)
    hidden_tests: WorldName | None = Field(
        default=None,
        description="where each instruction's hidden tests come from: `demo-world` (the demo "
        "world's tests for instructions in its phrasing); None: stated and peer tests only",
    )
    test_weighting: Literal["uniform", "consensus"] = "consensus"  # see RELIABILITY.md
    min_sources: Annotated[int, Field(ge=2)] = 3  # consensus needs this many independent sources


class JudgingConfig(_Strict):
    uninvolved_experts: bool = True
    exclude_same_family: bool = False
    extra_judges: tuple[ModelConfig, ...] = ()
    mode: Literal["logprob", "generate", "likelihood"] = Field(
        default="logprob",
        description="how an LLM judge decides: `logprob` (the judge prompt, the verdict labels' "
        "probabilities in one forward pass), `generate` (the judge writes its verdict), or "
        "`likelihood` (no judge prompt: the answer the judge itself would more likely write "
        "wins, GPTScore, Fu et al. 2023; a judge that never learned to judge still has a say)",
    )
    likelihood_tie_margin: Annotated[float, Field(ge=0.0)] = Field(
        default=1.0,
        description="likelihood mode: the log-likelihood ratio (nats, whole answer) within "
        "which two answers are about as likely and the verdict leans to a tie",
    )
    both_orders: bool = True
    system_prompt: Literal["paper", "none"] = Field(
        default="paper",
        description="the judge's system turn: `paper` (JUDGE_SYSTEM) or `none` (for models that "
        "never saw a system turn, such as the demo's tiny experts)",
    )
    max_new_tokens: Annotated[int, Field(ge=1)] = 1024
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    new_expert_judges_existing: Literal["on", "off", "sampled"] = "on"
    sampled_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25
    aggregate: Literal["vote", "reliability"] = Field(
        default="vote",
        description="how the LLM judges' votes add up: `vote` (the paper: each weighs 1) or "
        "`reliability` (each judge's votes weigh by its accuracy, estimated from the judges' "
        "agreement alone: gpu_ops/arena/judge_reliability.py; the execution judge keeps its weight)",
    )
    execution: ExecutionJudgeConfig = ExecutionJudgeConfig()

    def sampling(self):
        """What the LLM judges sample their verdicts with (generate mode)."""
        return _sampling(self.temperature, self.top_p, self.max_new_tokens)


class BattlesConfig(_Strict):
    """Which battles the LLM judges vote on (gpu_ops/arena/scheduling.py)."""

    schedule: Literal["full", "adaptive"] = Field(
        default="full",
        description="full: every uninvolved judge votes on every battle (the paper); adaptive: "
        "judges vote only where an instruction's winner is still open (a race per instruction)",
    )
    z: Annotated[float, Field(gt=0)] = Field(
        default=2.0,
        description="adaptive: how wide the race's bound is, in standard deviations (higher: "
        "more calls, more winners equal to full's; bench_battle_schedule measures both)",
    )
