"""The one config file, validated into typed objects before any work starts.

Defaults follow the paper (../shared/reference/method.md); every one is a knob. Where a default
differs on purpose (embedding model bundled offline, logprob judging, BT winner ratings, sizes),
docs/OPERATIONS.md says why and configs/paper.yaml spells out the paper's values. A bad
config raises `ConfigError` whose message names the field, the value and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gpu_ops.worlds import find_world, installed_names

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
RESERVED_JUDGE_SLUGS = {"execution"}
Backend = Literal["transformers", "vllm", "openai"]
Role = Literal["miner", "scorer", "competitor", "judge"]
ALL_ROLES: tuple[Role, ...] = ("miner", "scorer", "competitor", "judge")


class ConfigError(ValueError):
    """A config problem, with every offending field named."""


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf`/`.nan` in YAML is a typo, never a setting (and `int(inf)` in a
    # validator would crash instead of naming the field).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_slug(value: str) -> str:
    if not SLUG_PATTERN.match(value):
        raise ValueError(
            f"slug {value!r} is not usable as a partition key: use 1-63 characters of "
            "lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


class ModelConfig(_Strict):
    """Where a model lives and how to call it (experts, extra judges and the target)."""

    slug: str
    model: str = Field(description="HF model id or local path")
    backend: Backend = "transformers"
    family: str | None = Field(
        default=None, description="model family, for same-family judge exclusion"
    )
    endpoints: tuple[str, ...] = Field(
        default=(), description="OpenAI-compatible base URLs (openai backend)"
    )
    api_key_env: str | None = Field(default=None, description="env var holding the API key")
    tokenizer: str | None = Field(
        default=None, description="tokenizer id/path when it differs from model"
    )
    chat_template: str | None = Field(
        default=None, description="Jinja text or path overriding the template"
    )
    default_system_prompt: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    tensor_parallel_size: Annotated[int, Field(ge=1)] = 1
    max_model_len: Annotated[int, Field(ge=16)] | None = None
    revision: str | None = None
    batch_size: Annotated[int, Field(ge=1)] = 16
    request_timeout_s: Annotated[float, Field(gt=0)] = 120.0
    max_retries: Annotated[int, Field(ge=1, description="attempts per request, openai backend")] = 5
    max_concurrency: Annotated[int, Field(ge=1)] = 16

    _slug = field_validator("slug")(_check_slug)

    @field_validator("endpoints")
    @classmethod
    def _endpoints_are_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.match(r"^https?://[^\s/]+", url):
                raise ValueError(f"endpoint {url!r} is not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _backend_needs(self) -> ModelConfig:
        if self.backend == "openai" and not self.endpoints:
            raise ValueError(
                f"model {self.slug!r} uses backend 'openai' but has no endpoints: "
                "give at least one base URL such as http://localhost:8000/v1"
            )
        if self.backend != "openai" and self.endpoints:
            raise ValueError(
                f"model {self.slug!r} lists endpoints but its backend is {self.backend!r}: "
                "endpoints are only used by backend 'openai'"
            )
        return self

    def to_model_spec(self):
        """The `gpu_ops.llm.ModelSpec` for this model (imported lazily: config stays light)."""
        from gpu_ops.llm import ModelSpec

        return ModelSpec(
            slug=self.slug,
            model=self.model,
            backend=self.backend,
            endpoints=tuple(self.endpoints),
            api_key_env=self.api_key_env,
            tokenizer=self.tokenizer,
            chat_template=self.chat_template,
            default_system_prompt=self.default_system_prompt,
            dtype=self.dtype,
            device=self.device,
            tensor_parallel_size=self.tensor_parallel_size,
            max_model_len=self.max_model_len,
            revision=self.revision,
            batch_size=self.batch_size,
            request_timeout_s=self.request_timeout_s,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency,
        )


class ExpertConfig(ModelConfig):
    """An arena expert: mines, scores, competes and judges unless its roles say otherwise."""

    roles: tuple[Role, ...] = ALL_ROLES
    enabled: bool = True

    @field_validator("roles")
    @classmethod
    def _roles_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("roles must name at least one of " + ", ".join(ALL_ROLES))
        if len(set(value)) != len(value):
            raise ValueError(f"roles {list(value)} repeat a role")
        return value


class SamplingSetting(_Strict):
    """One point of the mining sampling grid."""

    temperature: Annotated[float, Field(ge=0.0, le=2.0)]
    top_p: Annotated[float, Field(gt=0.0, le=1.0)]

    @property
    def setting_id(self) -> str:
        return f"t{self.temperature:g}-p{self.top_p:g}"


class MiningConfig(_Strict):
    languages: tuple[str, ...] = ("python",)
    sampling_grid: tuple[SamplingSetting, ...] = (
        SamplingSetting(temperature=1.0, top_p=1.0),
        SamplingSetting(temperature=1.1, top_p=0.995),
        SamplingSetting(temperature=1.2, top_p=0.99),
    )
    system_prompt: str = Field(
        default="paper",
        description="'paper' (step-by-step guidance on {language} coding problems), 'none' (no system "
        "turn, the model's own default), or a custom text where {language} is replaced",
    )
    samples_per_setting: Annotated[int, Field(ge=1)] = 1000
    max_new_tokens: Annotated[int, Field(ge=1)] = 2048
    seed: int = 0
    min_instruction_chars: Annotated[int, Field(ge=0)] = 16
    max_instruction_chars: Annotated[int, Field(ge=1)] = 4000

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("languages must name at least one programming language")
        return value

    def system_prompts(self) -> dict[str, str | None] | None:
        """The per-language override for `gpu_ops.curation.mining.mine_instructions` (None = the paper's)."""
        if self.system_prompt == "paper":
            return None
        if self.system_prompt == "none":
            return dict.fromkeys(self.languages)
        return {
            language: self.system_prompt.replace("{language}", language)
            for language in self.languages
        }

    @field_validator("sampling_grid")
    @classmethod
    def _grid(cls, value: tuple[SamplingSetting, ...]) -> tuple[SamplingSetting, ...]:
        if not value:
            raise ValueError("sampling_grid needs at least one {temperature, top_p} setting")
        ids = [s.setting_id for s in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"sampling_grid repeats a setting: {ids}")
        return value

    @model_validator(mode="after")
    def _char_bounds(self) -> MiningConfig:
        if self.min_instruction_chars >= self.max_instruction_chars:
            raise ValueError(
                f"min_instruction_chars ({self.min_instruction_chars}) must be below "
                f"max_instruction_chars ({self.max_instruction_chars})"
            )
        return self


class DedupConfig(_Strict):
    threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    num_perm: Annotated[int, Field(ge=16, le=1024)] = 128
    shingle_size: Annotated[int, Field(ge=1, le=10)] = 1


def _sampling(temperature: float, top_p: float, max_new_tokens: int):
    """A `gpu_ops.llm.SamplingParams` (imported lazily: config stays light)."""
    from gpu_ops.llm import SamplingParams

    return SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)


class ScoringConfig(_Strict):
    scorers: Literal["experts"] | tuple[str, ...] = "experts"
    mode: Literal["generate", "logprob"] = "generate"
    min_score: Annotated[float, Field(ge=1, le=10)] = 6
    score_own_instructions: bool = False
    max_new_tokens: Annotated[int, Field(ge=1)] = 512
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0

    def sampling(self):
        """What the scoring stage samples with (generate mode)."""
        return _sampling(self.temperature, self.top_p, self.max_new_tokens)


class EmbeddingConfig(_Strict):
    model: str | None = Field(default=None, description="None = bundled all-MiniLM-L6-v2")
    batch_size: Annotated[int, Field(ge=1)] = 64
    device: str = "auto"


class SelectionConfig(_Strict):
    k: Annotated[float, Field(gt=0)] = 0.5
    first_center: Literal["medoid", "random"] | Annotated[int, Field(ge=0)] = "medoid"
    seed: int = 0

    @field_validator("k")
    @classmethod
    def _k(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError(
                f"k={value}: give an absolute count (integer >= 1) or a fraction in (0, 1)"
            )
        return value


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


def _installed_world(name: str) -> str:
    if find_world(name) is None:
        raise ValueError(f"{name!r} names no installed world (gpu_ops.worlds): {installed_names()}")
    return name


WorldName = Annotated[str, AfterValidator(_installed_world)]  # a world plugin, e.g. demo-world


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
    mode: Literal["logprob", "generate"] = "logprob"
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
    execution: ExecutionJudgeConfig = ExecutionJudgeConfig()

    def sampling(self):
        """What the LLM judges sample their verdicts with (generate mode)."""
        return _sampling(self.temperature, self.top_p, self.max_new_tokens)


class RatingConfig(_Strict):
    elo_k: Annotated[float, Field(gt=0)] = 40.0
    initial_rating: float = 1000.0
    scale: Annotated[float, Field(gt=0)] = 400.0
    base: Annotated[float, Field(gt=1)] = 10.0
    bootstrap_rounds: Annotated[int, Field(ge=0)] = 100
    bootstrap_unit: Literal["instruction", "vote"] = Field(
        default="instruction",
        description="what the bootstrap resamples: instructions with all their votes (votes on "
        "one instruction are correlated) or single votes (too-narrow intervals)",
    )
    seed: int = 0
    winner_rating: Literal["bt", "elo"] = Field(
        default="bt", description="rating behind P_global in winner selection"
    )
    elo_winner_value: Literal["median", "online"] = Field(
        default="median",
        description="with winner_rating elo: the bootstrap median, or the single online pass in "
        "the documented battle order (the paper's script)",
    )

    def winner_method(self) -> str:
        """The leaderboard rating winner selection reads: 'bt', 'elo' or 'elo_online'."""
        if self.winner_rating == "elo" and self.elo_winner_value == "online":
            return "elo_online"
        return self.winner_rating


class WinnerConfig(_Strict):
    alpha: float = 0.7

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"alpha={value} is outside [0, 1]: it weighs global vs local scores")
        return value


class DecontaminationConfig(_Strict):
    ngram: Annotated[int, Field(ge=3, le=64)] = 13
    # humaneval: word n-gram overlap; demo-world: any instruction asking for a held-out
    # composition of the demo world, however worded (the world reads instructions back)
    benchmarks: tuple[Literal["humaneval"] | WorldName, ...] = ("humaneval",)
    extra_jsonl: tuple[str, ...] = ()


class ExportConfig(_Strict):
    """The exported SFT dataset: its license and the row-quality filter."""

    license: str = Field(
        default="other",
        description="Hub license id for the dataset card; the rows are model outputs, so the "
        "experts' licenses apply (e.g. llama3.3, qwen, deepseek): 'other' until you decide",
    )
    drop_flagged_rows: bool = Field(
        default=True,
        description="drop rows with U+FFFD in the text or Python code blocks that do not parse "
        "(counted in the card either way)",
    )


class LoraConfig(_Strict):
    r: Annotated[int, Field(ge=1)] = 16
    alpha: Annotated[int, Field(ge=1)] = 32
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    target_modules: tuple[str, ...] | Literal["all-linear"] = "all-linear"


class SFTConfig(_Strict):
    learning_rate: Annotated[float, Field(gt=0)] = 1e-5
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.2
    lr_scheduler: str = "cosine"
    epochs: Annotated[float, Field(gt=0)] = 3
    max_seq_len: Annotated[int, Field(ge=16)] = 2048
    per_device_batch_size: Annotated[int, Field(ge=1)] = 8
    gradient_accumulation_steps: Annotated[int, Field(ge=1)] = 1
    packing: bool = False
    precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="auto: bf16 autocast on a bf16 GPU, else fp32; weights and optimizer state "
        "stay fp32 (master weights) in every case",
    )
    num_processes: Annotated[int, Field(ge=1)] = Field(
        default=1,
        description="training processes in all (one per GPU); more than 1 runs `accelerate "
        "launch`. Global batch = per_device_batch_size x gradient_accumulation_steps x this",
    )
    num_machines: Annotated[int, Field(ge=1)] = 1
    accelerate_config: str | None = Field(
        default=None,
        description="accelerate YAML (FSDP or DeepSpeed ZeRO-3), e.g. "
        "configs/accelerate/fsdp_full_shard.yaml; none = DDP",
    )
    lora: LoraConfig | None = None
    validation_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.05
    seed: int = 0
    max_steps: int = -1

    @model_validator(mode="after")
    def _machines_divide_processes(self) -> SFTConfig:
        if self.num_processes % self.num_machines:
            raise ValueError(
                f"num_processes ({self.num_processes}, in all) must be a multiple of "
                f"num_machines ({self.num_machines})"
            )
        return self

    @property
    def global_batch_size(self) -> int:
        """Sequences per optimizer step over all processes."""
        return self.per_device_batch_size * self.gradient_accumulation_steps * self.num_processes


class TargetConfig(ModelConfig):
    """The model the SFT data trains; its base version is evaluated too."""

    sft: SFTConfig = SFTConfig()


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
    ratings: RatingConfig = RatingConfig()
    winners: WinnerConfig = WinnerConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()
    export: ExportConfig = ExportConfig()
    target: TargetConfig | None = None
    evaluation: EvaluationConfig = EvaluationConfig()

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

    def model_by_slug(self, slug: str) -> ModelConfig:
        for model in (*self.experts, *self.judging.extra_judges):
            if model.slug == slug:
                return model
        if self.target is not None and self.target.slug == slug:
            return self.target
        raise ConfigError(f"unknown model {slug!r}")

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


def _short_repr(value: Any, limit: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {_short_repr(value)})"
        lines.append(f"  - {location}: {message}{shown}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "<dict>") -> ArenaConfig:
    """Validate a config mapping; raise ConfigError listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid config {source}: the top level must be a mapping, got {type(data).__name__}"
        )
    try:
        return ArenaConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None
    except RecursionError:
        raise ConfigError(f"invalid config {source}: values are nested too deeply") from None


class _ConfigLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` whose bad scalars (`2020-13-45`, `!!int abc`) are YAML errors with a line.

    PyYAML's constructors raise plain ValueError/AttributeError for those, without a position.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError) as error:
            kind = node.tag.removeprefix("tag:yaml.org,2002:")
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {kind} value: {error}", node.start_mark
            ) from None


MAX_NESTING = 32  # a real config is about 5 levels deep
MAX_VALUES = 100_000  # guards against YAML alias bombs ("billion laughs")


def _check_shape(data: Any, source: str) -> None:
    """Reject parsed YAML nested deeper than MAX_NESTING or holding more than MAX_VALUES values.

    Iterative, so a deep or self-referencing (`&x [*x]`) document cannot exhaust the stack later.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ConfigError(
                f"config file {source!r} holds more than {MAX_VALUES} values "
                "(are YAML aliases expanding?)"
            )
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list | tuple | set):
            children = list(node)
        else:
            continue
        if depth > MAX_NESTING:
            raise ConfigError(
                f"config file {source!r} is nested more than {MAX_NESTING} levels deep"
            )
        stack.extend((child, depth + 1) for child in children)


EXTENDS_KEY = "extends"


def _merged(base: Any, override: Any) -> Any:
    """`override` laid over `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in override.items()}}
    return override


def read_config_data(
    path: str | Path, home: Path | None = None, *, _chain: tuple[Path, ...] = ()
) -> Any:
    """The parsed YAML of a config file, unvalidated; every read or YAML problem is a ConfigError.

    `${WC_HOME}` in the file is replaced by the home directory (so configs can point at models
    built under it, as the demo does). A top-level `extends: OTHER.yaml` (relative to this
    file) reads OTHER first and lays this file over it: mappings merge key by key, lists and
    values are replaced (the ablation configs extend configs/paper.yaml this way).
    """
    data = _read_yaml(Path(path), home)
    if not isinstance(data, dict) or EXTENDS_KEY not in data:
        return data
    here = Path(path).resolve()
    base_name = data.pop(EXTENDS_KEY)
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"config file {str(path)!r}: `extends` must name a YAML file")
    base_path = (here.parent / base_name).resolve()
    if base_path in (*_chain, here):
        raise ConfigError(f"config file {str(path)!r}: `extends` loops back to {base_path}")
    base = read_config_data(base_path, home, _chain=(*_chain, here))
    if not isinstance(base, dict):
        raise ConfigError(f"config file {str(base_path)!r} (extended): not a mapping")
    return _merged(base, data)


def _read_yaml(path: Path, home: Path | None) -> Any:
    """One YAML file, parsed and shape-checked (see `read_config_data`)."""
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} is not a file")
    if home is None:
        from warriorcoder.storage import Home

        home = Home.resolve().root
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {str(path)!r} is not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None
    except OSError as error:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {error}") from None
    try:
        data = yaml.load(text.replace("${WC_HOME}", str(home)), Loader=_ConfigLoader)
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r} is nested too deeply") from None
    _check_shape(data, str(path))
    return data


def load_config(path: str | Path, home: Path | None = None) -> ArenaConfig:
    """Read and validate a YAML config file (see `read_config_data`)."""
    return parse_config(read_config_data(path, home), source=str(Path(path)))
