"""vLLM offline backend (GPU). vllm is imported inside the class, never at module import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpu_ops.errors import BackendError, InputError
from gpu_ops.llm.base import (
    ChatModel,
    Generation,
    ModelSpec,
    SamplingParams,
    check_choices,
    check_prompts,
    expand_sampling,
    renormalize,
)
from gpu_ops.llm.chat_template import ChatRenderer, load_tokenizer
from gpu_ops.llm.identity import model_identity


class VllmChatModel(ChatModel):
    """A model run in-process by vllm.LLM; prompts are sent as token ids (no double BOS)."""

    def __init__(self, spec: ModelSpec):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise InputError(
                f"{spec.slug}: backend 'vllm' needs the optional vllm package (pip install .[gpu])"
            ) from exc
        if spec.device not in ("auto", "cuda"):
            raise InputError(
                f"{spec.slug}: backend 'vllm' runs on CUDA, got device={spec.device!r}"
            )
        self.spec = spec
        self.tokenizer = load_tokenizer(spec)
        self.renderer = ChatRenderer(
            self.tokenizer, name=spec.slug, default_system_prompt=spec.default_system_prompt
        )
        self.identity = model_identity(spec, self.renderer.template_hash)
        kwargs: dict[str, Any] = {
            "model": spec.model,
            "tokenizer": spec.tokenizer or spec.model,
            "dtype": spec.dtype,
            "tensor_parallel_size": spec.tensor_parallel_size,
            "enable_prefix_caching": True,
        }
        if spec.max_model_len:
            kwargs["max_model_len"] = spec.max_model_len
        if spec.revision:
            kwargs["revision"] = spec.revision
        self.llm = LLM(**kwargs)

    def render_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        return self.renderer.render_chat(messages, add_generation_prompt)

    def render_prequery(self, system_prompt: str | None = None) -> str:
        return self.renderer.render_prequery(system_prompt)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return self.renderer.stop_strings

    def _encode(self, text: str) -> dict[str, list[int]]:
        return {"prompt_token_ids": self.tokenizer(text, add_special_tokens=False)["input_ids"]}

    def generate(
        self, prompts: Sequence[str], sampling: SamplingParams | Sequence[SamplingParams]
    ) -> list[Generation]:
        from vllm import SamplingParams as VllmSampling

        prompts = check_prompts(prompts)
        params = expand_sampling(sampling, len(prompts))
        vllm_params = [
            VllmSampling(
                temperature=p.temperature,
                top_p=p.top_p,
                max_tokens=p.max_new_tokens,
                stop=list(p.stop) or None,
                seed=p.seed,
                skip_special_tokens=False,
            )
            for p in params
        ]
        outputs = self.llm.generate([self._encode(p) for p in prompts], vllm_params, use_tqdm=False)
        results = []
        for out in outputs:
            completion = out.outputs[0]
            results.append(
                Generation(
                    text=completion.text,
                    prompt_tokens=len(out.prompt_token_ids or []),
                    completion_tokens=len(completion.token_ids),
                    finish_reason="length" if completion.finish_reason == "length" else "stop",
                )
            )
        return results

    def choice_logprobs(
        self, prompts: Sequence[str], choices: Sequence[str]
    ) -> list[dict[str, float]]:
        """Score prompt+choice with prompt_logprobs; prefix caching shares the prompt's work."""
        from vllm import SamplingParams as VllmSampling

        prompts = check_prompts(prompts)
        choices = check_choices(choices)
        choice_ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in choices]
        requests, spans = [], []
        for p in prompts:
            prompt_ids = self._encode(p)["prompt_token_ids"]
            for ids in choice_ids:
                requests.append({"prompt_token_ids": prompt_ids + ids})
                spans.append(len(prompt_ids))
        params = VllmSampling(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        scores = []
        for out, start in zip(outputs, spans, strict=True):
            total = 0.0
            for pos in range(start, len(out.prompt_token_ids)):
                entry = (out.prompt_logprobs or [])[pos]
                token = out.prompt_token_ids[pos]
                if not entry or token not in entry:
                    raise BackendError(
                        f"{self.spec.slug}: vLLM returned no prompt logprob at position {pos}"
                    )
                total += float(entry[token].logprob)
            scores.append(total)
        return renormalize(choices, scores, len(prompts))

    def close(self) -> None:
        del self.llm
