"""A deterministic in-memory ChatModel for fast stage tests.

Replies are a pure function of (identity, prompt, sampling), so reruns give identical outputs
and different seeds give different outputs, like a seeded real model. Tests may script replies
with ``reply_fn`` / ``logprob_fn``. Every call is recorded to check batching.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gpu_ops.llm import ChatModel, ChoiceScores, Generation, SamplingParams

END = "<|end|>"
WORDS = ("write", "a", "python", "function", "that", "parses", "sorted", "lists", "quickly", "why")


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).digest()


def _per_prompt(
    sampling: SamplingParams | Sequence[SamplingParams], n: int
) -> list[SamplingParams]:
    params = [sampling] * n if isinstance(sampling, SamplingParams) else list(sampling)
    if len(params) != n:
        raise ValueError("one SamplingParams per prompt")
    return params


@dataclass
class FakeChatModel(ChatModel):
    """Implements the ChatModel interface of ``gpu_ops.llm`` without any weights."""

    identity: str = "fake-model"
    reply_fn: Callable[[str, SamplingParams], str] | None = None
    logprob_fn: Callable[[str, str], float] | None = None
    calls: list[tuple[str, int]] = field(default_factory=list)
    seen_prompts: list[str] = field(default_factory=list)
    seen_sampling: list[SamplingParams] = field(default_factory=list)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return (END,)

    def render_chat(self, messages: Sequence[dict], add_generation_prompt: bool = True) -> str:
        turns = "".join(f"<|{m['role']}|>\n{m['content']}{END}\n" for m in messages)
        return turns + ("<|assistant|>\n" if add_generation_prompt else "")

    def render_prequery(self, system_prompt: str | None) -> str:
        system = f"<|system|>\n{system_prompt}{END}\n" if system_prompt else ""
        return system + "<|user|>\n"

    def _default_reply(self, prompt: str, sampling: SamplingParams) -> str:
        digest = _digest(self.identity, prompt, sampling.temperature, sampling.top_p, sampling.seed)
        words = [WORDS[b % len(WORDS)] for b in digest[: 4 + digest[0] % 12]]
        return " ".join(words) + f" #{digest.hex()[:6]}"

    def generate(
        self, prompts: Sequence[str], sampling: SamplingParams | Sequence[SamplingParams]
    ) -> list[Generation]:
        params = _per_prompt(sampling, len(prompts))
        self.calls.append(("generate", len(prompts)))
        return self._complete(prompts, params)

    def _complete(self, prompts: Sequence[str], params: list[SamplingParams]) -> list[Generation]:
        self.seen_prompts.extend(prompts)
        self.seen_sampling.extend(params)
        out = []
        for prompt, p in zip(prompts, params, strict=True):
            text = (self.reply_fn or self._default_reply)(prompt, p)
            for stop in p.stop:
                text = text.split(stop)[0]
            words = text.split(" ")
            finish = "stop"
            if len(words) > p.max_new_tokens:
                text, finish = " ".join(words[: p.max_new_tokens]), "length"
            out.append(
                Generation(
                    text=text,
                    prompt_tokens=len(prompt.split()),
                    completion_tokens=min(len(words), p.max_new_tokens),
                    finish_reason=finish,
                )
            )
        return out

    def chat(
        self,
        conversations: Sequence[list[dict]],
        sampling: SamplingParams | Sequence[SamplingParams],
    ) -> list[Generation]:
        self.calls.append(("chat", len(conversations)))
        prompts = [self.render_chat(c) for c in conversations]
        return self._complete(prompts, _per_prompt(sampling, len(prompts)))

    def choice_logprobs(self, prompts: Sequence[str], choices: Sequence[str]) -> list[ChoiceScores]:
        self.calls.append(("choice_logprobs", len(prompts)))
        self.seen_prompts.extend(prompts)
        out = []
        for prompt in prompts:
            raw = {
                c: (
                    self.logprob_fn(prompt, c)
                    if self.logprob_fn
                    else -int.from_bytes(_digest(self.identity, prompt, c)[:2], "big") / 8192
                )
                for c in choices
            }
            top = max(raw.values())
            log_total = top + math.log(sum(math.exp(v - top) for v in raw.values()))
            out.append(
                ChoiceScores(
                    logprobs={c: v - log_total for c, v in raw.items()},
                    prompt_tokens=len(prompt.split()),
                )
            )
        return out


def load_tiny(model_dir) -> ChatModel:
    """The session's tiny random Llama through the real loader (CPU, fp32: deterministic)."""
    from gpu_ops.llm import ModelSpec, load_model

    return load_model(ModelSpec(slug="tiny", model=str(model_dir), device="cpu", dtype="float32"))
