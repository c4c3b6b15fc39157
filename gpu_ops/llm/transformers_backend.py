"""Hugging Face transformers backend: batched decoding with a KV cache on CPU or CUDA.

Each request gets its own CPU torch.Generator seeded from its SamplingParams.seed and draws exactly
one uniform number per sampled token, so a request's sample does not depend on which other
requests share its batch (up to floating-point differences from padding).
"""

from __future__ import annotations

import copy
import inspect
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from gpu_ops.errors import InputError
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
)
from gpu_ops.llm.chat_template import ChatRenderer, TemplateRendering, load_tokenizer
from gpu_ops.llm.identity import model_identity

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype | str:
    if dtype != "auto":
        return _DTYPES[dtype]
    return "auto" if device.type == "cuda" else torch.float32


@dataclass
class _Row:
    """Decoding state of one request."""

    index: int
    prompt_ids: list[int]
    params: SamplingParams
    generator: torch.Generator
    budget: int
    tokens: list[int] = field(default_factory=list)
    text: str | None = None
    finish_reason: str | None = None


class TransformersChatModel(TemplateRendering, ChatModel):
    """A local causal LM run with transformers; requests are batched with left padding."""

    def __init__(self, spec: ModelSpec):
        from transformers import AutoModelForCausalLM

        self.spec = spec
        self.device = resolve_device(spec.device)
        self.tokenizer = load_tokenizer(spec)
        self.renderer = ChatRenderer(
            self.tokenizer, name=spec.slug, default_system_prompt=spec.default_system_prompt
        )
        kwargs = {"revision": spec.revision} if spec.revision else {}
        self.model = AutoModelForCausalLM.from_pretrained(
            spec.model, dtype=resolve_dtype(spec.dtype, self.device), **kwargs
        ).to(self.device)
        self.model.eval()
        self.identity = model_identity(spec, self.renderer.template_hash)
        self.max_len = spec.max_model_len or int(
            getattr(self.model.config, "max_position_embeddings", 0) or 1 << 30
        )
        self.pad_id = self._pad_id()
        self.eos_ids = self._eos_ids()
        params = inspect.signature(self.model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self.tokens_fed = 0  # real tokens fed to the model so far (benchmarks, tests)

    def _pad_id(self) -> int:
        for candidate in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0):
            if candidate is not None:
                return int(candidate)
        return 0

    def _eos_ids(self) -> set[int]:
        ids = set()
        config_eos = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (self.tokenizer.eos_token_id, config_eos):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list | tuple):
                ids.update(int(v) for v in value)
        return ids

    # --- generation --------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[str], sampling: SamplingParams | Sequence[SamplingParams]
    ) -> list[Generation]:
        prompts = check_prompts(prompts)
        params = expand_sampling(sampling, len(prompts))
        rows = [
            self._new_row(i, p, s) for i, (p, s) in enumerate(zip(prompts, params, strict=True))
        ]
        # Similar lengths share a batch: less padding, same results (batch independence).
        order = sorted(rows, key=lambda r: len(r.prompt_ids))
        for start in range(0, len(order), self.spec.batch_size):
            self._decode_batch(order[start : start + self.spec.batch_size])
        return [
            Generation(
                text=r.text or "",
                prompt_tokens=len(r.prompt_ids),
                completion_tokens=len(r.tokens),
                finish_reason=r.finish_reason or "length",
            )
            for r in rows
        ]

    def _new_row(self, index: int, prompt: str, params: SamplingParams) -> _Row:
        ids = self.encode(prompt)
        if not ids:
            raise InputError(f"{self.spec.slug}: prompt {index} is empty")
        if len(ids) >= self.max_len:
            raise InputError(
                f"{self.spec.slug}: prompt {index} has {len(ids)} tokens, max_model_len is {self.max_len}"
            )
        seed = params.seed if params.seed is not None else secrets.randbits(63)
        generator = torch.Generator().manual_seed(seed)  # CPU: same draws on any device
        budget = min(params.max_new_tokens, self.max_len - len(ids))
        return _Row(index, ids, params, generator, budget)

    def _left_pad(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = left_pad(sequences, self.pad_id)
        return ids.to(self.device), mask.to(self.device)

    @torch.inference_mode()
    def _decode_batch(self, rows: list[_Row]) -> None:
        input_ids, mask = self._left_pad([r.prompt_ids for r in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = self._new_cache()
        temperature = torch.tensor([r.params.temperature for r in rows], device=self.device)
        top_p = torch.tensor([r.params.top_p for r in rows], device=self.device)
        steps = max(r.budget for r in rows)
        for _ in range(steps):
            logits = self._forward(input_ids, mask, positions, cache, logits_to_keep=1)
            next_ids = self._sample(logits[:, -1, :].float(), rows, temperature, top_p)
            active = False
            for row, token in zip(rows, next_ids, strict=True):
                if row.finish_reason is None:
                    self._append(row, token)
                    active = active or row.finish_reason is None
            if not active:
                break
            input_ids = torch.tensor(next_ids, device=self.device).unsqueeze(1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions[:, -1:] + 1

    def _sample(
        self, logits: torch.Tensor, rows: list[_Row], temperature: torch.Tensor, top_p: torch.Tensor
    ) -> list[int]:
        """Greedy for temperature 0, else nucleus sampling with one uniform draw per row."""
        # One CPU draw per sampling row: the stream depends only on the row's seed and step.
        draws = [
            float(torch.rand((), generator=r.generator))
            if r.finish_reason is None and r.params.temperature > 0
            else 0.0
            for r in rows
        ]
        probs = torch.softmax(logits / temperature.clamp(min=1e-6).unsqueeze(1), dim=-1)
        sorted_probs, sorted_ids = probs.sort(dim=-1, descending=True)
        cumulative = sorted_probs.cumsum(dim=-1)
        drop = (cumulative - sorted_probs) >= top_p.unsqueeze(1)  # keeps at least the top token
        cumulative = sorted_probs.masked_fill(drop, 0.0).cumsum(dim=-1)
        targets = (
            torch.tensor(draws, device=logits.device, dtype=cumulative.dtype) * cumulative[:, -1]
        )
        index = torch.searchsorted(cumulative, targets.unsqueeze(1), right=True)
        sampled = sorted_ids.gather(1, index.clamp(max=logits.shape[-1] - 1)).squeeze(1)
        greedy = logits.argmax(dim=-1)
        chosen = torch.where(temperature > 0, sampled, greedy).tolist()
        return [
            self.pad_id if r.finish_reason is not None else t
            for r, t in zip(rows, chosen, strict=True)
        ]

    def _append(self, row: _Row, token: int) -> None:
        if token in self.eos_ids:
            row.tokens.append(token)
            row.text = self.tokenizer.decode(row.tokens[:-1], skip_special_tokens=False)
            row.finish_reason = "stop"
            return
        row.tokens.append(token)
        if row.params.stop:
            longest = max(len(s) for s in row.params.stop)
            tail = self.tokenizer.decode(
                row.tokens[-(4 * longest + 2) :], skip_special_tokens=False
            )
            if any(s in tail for s in row.params.stop):
                text = self.tokenizer.decode(row.tokens, skip_special_tokens=False)
                cut = min(text.index(s) for s in row.params.stop if s in text)
                row.text, row.finish_reason = text[:cut], "stop"
                return
        if len(row.tokens) >= row.budget:
            row.text = self.tokenizer.decode(row.tokens, skip_special_tokens=False)
            row.finish_reason = "length"

    # --- scoring -----------------------------------------------------------------------------
    @torch.inference_mode()
    def choice_logprobs(self, prompts: Sequence[str], choices: Sequence[str]) -> list[ChoiceScores]:
        """Sum of token log-probs of each full choice after the prompt, renormalized (logsumexp 0).

        Each prompt is fed once (batched, with a KV cache); first choice tokens are read from its
        last position, and the rest of multi-token choices is fed on the cached prompt state.
        """
        prompts = check_prompts(prompts)
        choices = check_choices(choices)
        choice_ids = [self.encode(c) for c in choices]
        choice_tree(choice_ids)  # rejects a choice that encodes to nothing
        longest = max(len(c) for c in choice_ids)
        encoded = [self.encode(p) for p in prompts]
        for i, ids in enumerate(encoded):
            if not ids:
                raise InputError(f"{self.spec.slug}: prompt {i} is empty")
            if len(ids) + longest > self.max_len:
                raise InputError(
                    f"{self.spec.slug}: prompt {i} has {len(ids)} tokens, with a choice of {longest} "
                    f"that is longer than max_model_len {self.max_len}"
                )
        scores: list[float] = []
        for start in range(0, len(encoded), self.spec.batch_size):
            scores.extend(
                self._score_batch(encoded[start : start + self.spec.batch_size], choice_ids)
            )
        return renormalize(choices, scores, [len(ids) for ids in encoded])

    def _score_batch(self, prompts: list[list[int]], choice_ids: list[list[int]]) -> list[float]:
        """Prompt-major scores of every choice after each prompt, feeding each prompt once."""
        input_ids, mask = self._left_pad(prompts)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = self._new_cache()
        logits = self._forward(input_ids, mask, positions, cache, logits_to_keep=1)
        first = torch.log_softmax(logits[:, -1, :].float(), dim=-1)
        scores = [[float(first[i, ids[0]]) for ids in choice_ids] for i in range(len(prompts))]
        rows = [
            (i, j) for i in range(len(prompts)) for j, ids in enumerate(choice_ids) if len(ids) > 1
        ]
        size = self.spec.batch_size
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            # The last chunk may take the prompt cache itself; earlier ones work on a copy.
            state = cache if start + size >= len(rows) else copy.deepcopy(cache)
            for (i, j), value in zip(
                chunk, self._score_tails(state, mask, positions, chunk, choice_ids), strict=True
            ):
                scores[i][j] += value
        return [s for row in scores for s in row]

    def _score_tails(
        self,
        cache: Any,
        mask: torch.Tensor,
        positions: torch.Tensor,
        rows: list[tuple[int, int]],
        choice_ids: list[list[int]],
    ) -> list[float]:
        """Log-prob of tokens 2.. of choice j after prompt i, for each (i, j), on the prompt cache.

        Rows feed choice[:-1] right-padded: padding sits after every real token, so causal
        attention keeps it out of the scored positions.
        """
        index = torch.tensor([i for i, _ in rows], device=self.device)
        cache.reorder_cache(index)
        feeds = [choice_ids[j][:-1] for _, j in rows]
        width = max(len(f) for f in feeds)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        tail_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, feed in enumerate(feeds):
            ids[r, : len(feed)] = torch.tensor(feed, dtype=torch.long)
            tail_mask[r, : len(feed)] = 1
        ids, tail_mask = ids.to(self.device), tail_mask.to(self.device)
        full_mask = torch.cat([mask.index_select(0, index), tail_mask], dim=1)
        tail_positions = (
            positions.index_select(0, index)[:, -1:] + 1 + torch.arange(width, device=self.device)
        )
        logits = self._forward(ids, full_mask, tail_positions, cache, logits_to_keep=width)
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # position t predicts token t + 1
        out = []
        for r, (_, j) in enumerate(rows):
            targets = choice_ids[j][1:]
            out.append(sum(float(logprobs[r, t, token]) for t, token in enumerate(targets)))
        return out

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.model.config)
        except TypeError:  # older transformers
            return DynamicCache()

    def _forward(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: Any,
        *,
        logits_to_keep: int,
    ) -> torch.Tensor:
        """One model call on a KV cache; counts the real (unpadded) tokens it feeds."""
        self.tokens_fed += int(mask[:, -input_ids.shape[1] :].sum())
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=logits_to_keep,
            **{self._cache_kwarg: cache},
        )
        return out.logits

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def left_pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) of token sequences padded on the left to one width, so every row's
    last token sits in the last column (where a verdict or the next token is read)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        mask[i, width - len(seq) :] = 1
    return ids, mask
