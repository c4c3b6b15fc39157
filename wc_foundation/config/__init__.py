"""The one config file, validated into typed objects before any work starts.

Defaults follow the paper (../shared/reference/method.md); every one is a knob. Where a default
differs on purpose (embedding model bundled offline, logprob judging, BT winner ratings, sizes),
docs/OPERATIONS.md says why and configs/paper.yaml spells out the paper's values. A bad
config raises `ConfigError` whose message names the field, the value and what is allowed.

One module per stage's section (`mining.py` is the mining stage's, as `dagster_wc/defs/mining.py`
is its assets), `models.py` for the experts and judges, `arena_config.py` for the whole, and
`loading.py` for reading a file. Import from this package: `from wc_foundation.config import
ArenaConfig, load_config`.
"""

from wc_foundation.config.arena import (
    BattlesConfig,
    ExecutionJudgeConfig,
    JudgingConfig,
    ResponseConfig,
)
from wc_foundation.config.arena_config import ArenaConfig
from wc_foundation.config.base import (
    RESERVED_JUDGE_SLUGS,
    SLUG_PATTERN,
    Backend,
    ConfigError,
    Role,
    WorldName,
)
from wc_foundation.config.compute import ComputeConfig
from wc_foundation.config.dedup import DedupConfig
from wc_foundation.config.evaluation import EvaluationConfig
from wc_foundation.config.flywheel import FlywheelConfig
from wc_foundation.config.loading import (
    EXTENDS_KEY,
    MAX_NESTING,
    MAX_VALUES,
    load_config,
    overlay,
    parse_config,
    read_config_data,
)
from wc_foundation.config.mining import MiningConfig, SamplingSetting
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
from wc_foundation.config.training import (
    LoraConfig,
    PreferenceTrainingConfig,
    SFTConfig,
    TargetConfig,
)

__all__ = [
    "EXTENDS_KEY",
    "MAX_NESTING",
    "MAX_VALUES",
    "RESERVED_JUDGE_SLUGS",
    "SLUG_PATTERN",
    "ArenaConfig",
    "Backend",
    "BattlesConfig",
    "ComputeConfig",
    "ConfigError",
    "DecontaminationConfig",
    "DedupConfig",
    "EmbeddingConfig",
    "EvaluationConfig",
    "ExecutionJudgeConfig",
    "ExpertConfig",
    "ExportConfig",
    "FlywheelConfig",
    "JudgingConfig",
    "LoraConfig",
    "MiningConfig",
    "ModelConfig",
    "PreferenceConfig",
    "PreferenceTrainingConfig",
    "RatingConfig",
    "ResponseConfig",
    "Role",
    "SFTConfig",
    "SamplingSetting",
    "ScoringConfig",
    "SelectionConfig",
    "TargetConfig",
    "WinnerConfig",
    "WorldName",
    "load_config",
    "overlay",
    "parse_config",
    "read_config_data",
]
