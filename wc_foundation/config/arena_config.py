"""The whole arena: the experts and every stage's section, with the checks across them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import (
    BaseModel,
    model_validator,
)

from wc_foundation.config.arena import BattlesConfig, JudgingConfig, ResponseConfig
from wc_foundation.config.base import RESERVED_JUDGE_SLUGS, ConfigError, Role, _Strict
from wc_foundation.config.compute import ComputeConfig
from wc_foundation.config.dedup import DedupConfig
from wc_foundation.config.evaluation import EvaluationConfig
from wc_foundation.config.flywheel import FlywheelConfig
from wc_foundation.config.mining import MiningConfig
from wc_foundation.config.models import ExpertConfig, ModelConfig
from wc_foundation.config.ratings import RatingConfig
from wc_foundation.config.scoring import ScoringConfig
from wc_foundation.config.selection import EmbeddingConfig, SelectionConfig
from wc_foundation.config.sft_data import (
    DecontaminationConfig,
    ExportConfig,
    PreferenceConfig,
    WinnerConfig,
)
from wc_foundation.config.training import TargetConfig


class ArenaConfig(_Strict):
    """The whole arena: the experts and every stage's settings."""

    name: str = "warriorcoder"
    experts: tuple[ExpertConfig, ...]
    mining: MiningConfig = MiningConfig()
    dedup: DedupConfig = DedupConfig()
    scoring: ScoringConfig = ScoringConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    selection: SelectionConfig = SelectionConfig()
    responses: ResponseConfig = ResponseConfig()
    judging: JudgingConfig = JudgingConfig()
    battles: BattlesConfig = BattlesConfig()
    ratings: RatingConfig = RatingConfig()
    winners: WinnerConfig = WinnerConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()
    export: ExportConfig = ExportConfig()
    preference: PreferenceConfig = PreferenceConfig()
    target: TargetConfig | None = None
    evaluation: EvaluationConfig = EvaluationConfig()
    compute: ComputeConfig = ComputeConfig()  # where it runs, never what (in no step version)
    flywheel: FlywheelConfig = FlywheelConfig()  # read by `warriorcoder flywheel` only

    @model_validator(mode="after")
    def _cross_checks(self) -> ArenaConfig:
        if not self.experts:
            raise ValueError("experts: the arena needs at least two experts (got none)")
        slugs = [e.slug for e in self.experts]
        duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
        if duplicates:
            raise ValueError(
                f"experts: duplicate slugs {duplicates}; every expert needs its own slug"
            )
        judge_slugs = [j.slug for j in self.judging.extra_judges]
        clash = sorted(set(judge_slugs) & (set(slugs) | RESERVED_JUDGE_SLUGS))
        if clash:
            raise ValueError(
                f"judging.extra_judges: slugs {clash} clash with an expert or a reserved judge name "
                f"({sorted(RESERVED_JUDGE_SLUGS)})"
            )
        competitors = [e.slug for e in self.experts if e.enabled and "competitor" in e.roles]
        if len(competitors) < 2:
            raise ValueError(
                f"experts: battles need at least two enabled competitors, got {competitors}"
            )
        if self.scoring.scorers != "experts":
            unknown = sorted(set(self.scoring.scorers) - set(slugs))
            if unknown:
                raise ValueError(
                    f"scoring.scorers: unknown expert(s) {unknown}; allowed: {sorted(slugs)}"
                )
        return self

    # -- views the stages use ------------------------------------------------------------

    def expert(self, slug: str) -> ExpertConfig:
        for expert in self.experts:
            if expert.slug == slug:
                return expert
        raise ConfigError(f"unknown expert {slug!r}; configured: {[e.slug for e in self.experts]}")

    def experts_with_role(self, role: Role) -> list[ExpertConfig]:
        return [e for e in self.experts if e.enabled and role in e.roles]

    def scorer_slugs(self) -> list[str]:
        if self.scoring.scorers == "experts":
            return [e.slug for e in self.experts_with_role("scorer")]
        return list(self.scoring.scorers)

    def judge_models(self) -> list[ModelConfig]:
        """Every LLM judge: the judging experts (if enabled) plus the extra judge models."""
        judges: list[ModelConfig] = []
        if self.judging.uninvolved_experts:
            judges.extend(self.experts_with_role("judge"))
        judges.extend(self.judging.extra_judges)
        return judges

    def arena_model(self, slug: str) -> ModelConfig:
        """An expert or an extra judge: the models a battle involves. The target is not one of
        them, so the arena's steps never depend on how the target trains."""
        for model in (*self.experts, *self.judging.extra_judges):
            if model.slug == slug:
                return model
        known = [m.slug for m in (*self.experts, *self.judging.extra_judges)]
        raise ConfigError(f"unknown expert or judge {slug!r}; configured: {known}")

    def stage_hash(self, *sections: str) -> str:
        """A short content hash of some config sections (for provenance and change detection)."""
        payload = {name: _jsonable(getattr(self, name)) for name in sections}
        return hashlib.sha256(
            json.dumps(payload, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value
