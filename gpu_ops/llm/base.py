"""Value types and the abstract ChatModel shared by all LLM backends."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from gpu_ops.errors import InputError

Backend = Literal["transformers", "vllm", "openai"]
BACKENDS = ("transformers", "vllm", "openai")
DTYPES = ("auto", "float32", "float16", "bfloat16")
FINISH_REASONS = ("stop", "length")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _positive(name: str, value: float | int | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to load one model; validated on construction."""

    slug: str
    model: str
    backend: Backend = "transformers"
    endpoints: tuple[str, ...] = ()
    api_key_env: str | None = None
    chat_template: str | None = None  # Jinja text or a path to a .jinja file
    default_system_prompt: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    tensor_parallel_size: int = 1
    max_model_len: int | None = None
    revision: str | None = None
    batch_size: int = 16
    request_timeout_s: float = 120.0
    max_retries: int = 5  # total attempts per request before BackendError
    max_concurrency: int = 16
    tokenizer: str | None = None
    retry_backoff_s: float = 0.5  # first backoff; doubles per attempt, plus jitter

    def __post_init__(self) -> None:
        if not isinstance(self.slug, str) or not _SLUG.match(self.slug):
            raise InputError(f"slug must match [A-Za-z0-9][A-Za-z0-9._-]*, got {self.slug!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise InputError(f"model must be a non-empty string, got {self.model!r}")
        if self.backend not in BACKENDS:
            raise InputError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        endpoints = (self.endpoints,) if isinstance(self.endpoints, str) else self.endpoints
        endpoints = tuple(_normalize_endpoint(e) for e in endpoints)
        object.__setattr__(self, "endpoints", endpoints)
        if self.backend == "openai" and not endpoints:
            raise InputError(
                f"endpoints must list at least one URL for backend 'openai' ({self.slug})"
            )
        if self.backend != "openai" and endpoints:
            raise InputError(
                f"endpoints={endpoints!r} is only used by backend 'openai', not {self.backend!r}"
            )
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise InputError(f"device must be auto, cpu, mps, cuda or cuda:N, got {self.device!r}")
        for name in ("tensor_parallel_size", "batch_size", "max_retries", "max_concurrency"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an integer >= 1, got {value!r}")
        if self.max_model_len is not None and (
            isinstance(self.max_model_len, bool)
            or not isinstance(self.max_model_len, int)
            or self.max_model_len < 1
        ):
            raise InputError(
                f"max_model_len must be None or an integer >= 1, got {self.max_model_len!r}"
            )
        _positive("request_timeout_s", self.request_timeout_s)
        if not isinstance(self.retry_backoff_s, int | float) or self.retry_backoff_s < 0:
            raise InputError(f"retry_backoff_s must be >= 0, got {self.retry_backoff_s!r}")
        for name in (
            "api_key_env",
            "chat_template",
            "default_system_prompt",
            "revision",
            "tokenizer",
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InputError(f"{name} must be a string or None, got {value!r}")


def _normalize_endpoint(url: object) -> str:
    """'http://host:8000/v1/' -> 'http://host:8000' (the client appends /v1/...)."""
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise InputError(f"endpoints: {url!r} is not an http(s) URL")
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings of one request; temperature 0 means greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    stop: tuple[str, ...] = field(default=())
    seed: int | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.temperature, bool)
            or not isinstance(self.temperature, int | float)
            or self.temperature < 0
        ):
            raise InputError(f"temperature must be >= 0, got {self.temperature!r}")
        if (
            isinstance(self.top_p, bool)
            or not isinstance(self.top_p, int | float)
            or not 0 < self.top_p <= 1
        ):
            raise InputError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if (
            isinstance(self.max_new_tokens, bool)
            or not isinstance(self.max_new_tokens, int)
            or self.max_new_tokens < 1
        ):
            raise InputError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if any(not isinstance(s, str) or not s for s in stop):
            raise InputError(f"stop must hold non-empty strings, got {self.stop!r}")
        object.__setattr__(self, "stop", stop)
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0
        ):
            raise InputError(f"seed must be None or an integer >= 0, got {self.seed!r}")

    def with_seed(self, seed: int) -> SamplingParams:
        """The same settings for one row of a batch, under that row's own (derived) seed."""
        return replace(self, seed=seed)


@dataclass(frozen=True)
class Generation:
    """One completion: text (stop string excluded), token counts and why it ended."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


@dataclass(frozen=True)
class ChoiceScores:
    """The choices' log-probs after one prompt (logsumexp 0) and the prompt's length in tokens.

    prompt_tokens is what the model read for this verdict: judging and scoring record it, so the
    input side of logprob-mode stages shows in the token costs.
    """

    logprobs: dict[str, float]
    prompt_tokens: int


def expand_sampling(
    sampling: SamplingParams | Sequence[SamplingParams], n: int
) -> list[SamplingParams]:
    """One SamplingParams per request: broadcast a single one, or check the length of a list."""
    if isinstance(sampling, SamplingParams):
        return [sampling] * n
    params = list(sampling)
    if len(params) != n:
        raise InputError(f"got {len(params)} SamplingParams for {n} requests")
    for p in params:
        if not isinstance(p, SamplingParams):
            raise InputError(f"sampling must hold SamplingParams, got {type(p).__name__}")
    return params


def check_prompts(prompts: Sequence[str]) -> list[str]:
    if isinstance(prompts, str):
        raise InputError("prompts must be a sequence of strings, not one string")
    out = list(prompts)
    for p in out:
        if not isinstance(p, str):
            raise InputError(f"prompts must be strings, got {type(p).__name__}")
    return out


def renormalize(
    choices: Sequence[str], scores: Sequence[float], prompt_tokens: Sequence[int]
) -> list[ChoiceScores]:
    """Per prompt, log-probs over the choices shifted so that their logsumexp is 0.

    scores is prompt-major: scores[i * len(choices) + j] belongs to prompt i, choice j.
    """
    out = []
    k = len(choices)
    for i, n_tokens in enumerate(prompt_tokens):
        row = scores[i * k : (i + 1) * k]
        top = max(row)
        total = top + math.log(sum(math.exp(s - top) for s in row))
        logprobs = {c: float(s - total) for c, s in zip(choices, row, strict=True)}
        out.append(ChoiceScores(logprobs=logprobs, prompt_tokens=int(n_tokens)))
    return out


def choice_tree(choice_ids: Sequence[Sequence[int]]) -> dict[tuple[int, ...], set[int]]:
    """Each proper token prefix of the choices -> the tokens that extend it (a trie).

    Scoring every choice needs the next-token distribution at each prefix once: the prompt's own
    distribution (prefix ()) plus one per longer prefix that several choices may share.
    """
    tree: dict[tuple[int, ...], set[int]] = {}
    for ids in choice_ids:
        if not ids:
            raise InputError("a choice encodes to no tokens")
        for end in range(len(ids)):
            tree.setdefault(tuple(ids[:end]), set()).add(ids[end])
    return tree


def sum_choice_logprobs(
    choice_ids: Sequence[Sequence[int]], at: dict[tuple[int, ...], dict[int, float]]
) -> list[float]:
    """Each choice's log-prob: the sum over its tokens of log p(token | prompt + earlier tokens)."""
    return [sum(at[tuple(ids[:t])][ids[t]] for t in range(len(ids))) for ids in choice_ids]


def check_choices(choices: Sequence[str]) -> list[str]:
    if isinstance(choices, str):
        raise InputError("choices must be a sequence of strings, not one string")
    out = list(choices)
    if len(out) < 1 or any(not isinstance(c, str) or not c for c in out):
        raise InputError(f"choices must be non-empty strings, got {choices!r}")
    if len(set(out)) != len(out):
        raise InputError(f"choices must be distinct, got {choices!r}")
    return out


def check_conversation(messages: object) -> list[dict[str, str]]:
    if not isinstance(messages, list | tuple) or not messages:
        raise InputError(f"a conversation must be a non-empty list of messages, got {messages!r}")
    out = []
    for m in messages:
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            raise InputError(f"a message must be {{'role': str, 'content': str}}, got {m!r}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


class ChatModel(ABC):
    """A loaded model: chat rendering from its own template, batched generation, choice scoring."""

    spec: ModelSpec
    identity: str

    @abstractmethod
    def render_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        """The prompt text of a conversation, through the model's chat template."""

    @abstractmethod
    def render_prequery(self, system_prompt: str | None = None) -> str:
        """System turn + the opening of a user turn: a model completing it writes a user query."""

    @property
    @abstractmethod
    def stop_strings(self) -> tuple[str, ...]:
        """End-of-turn strings of the template (plus the eos token)."""

    @abstractmethod
    def generate(
        self, prompts: Sequence[str], sampling: SamplingParams | Sequence[SamplingParams]
    ) -> list[Generation]:
        """Complete raw prompts (already rendered), batched."""

    def chat(
        self,
        conversations: Sequence[list[dict]],
        sampling: SamplingParams | Sequence[SamplingParams],
    ) -> list[Generation]:
        """Answer conversations: render each with the chat template, then generate."""
        prompts = [self.render_chat(check_conversation(c)) for c in conversations]
        return self.generate(prompts, sampling)

    @abstractmethod
    def choice_logprobs(self, prompts: Sequence[str], choices: Sequence[str]) -> list[ChoiceScores]:
        """Log-probability of each choice continuing each prompt, renormalized over the choices.

        Each prompt is processed once: the choices are read from its next-token distribution and,
        for choices longer than one token, scored on the prompt's cached state.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (GPU memory, HTTP connections)."""
