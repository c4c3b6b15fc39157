"""OpenAI-compatible HTTP backend (e.g. `vllm serve`): completions for raw prompts, chat for chat().

Requests run concurrently: up to spec.max_concurrency in flight *per endpoint* (a fleet of N
`vllm serve` replicas gets N times that), each request taking the first endpoint with a free
slot, in round-robin order. Each request retries connect errors, timeouts, HTTP 429/5xx,
malformed JSON and aborted replies (finish_reason "abort" or "error", as vLLM sends for
in-flight requests when it shuts down) with exponential backoff and jitter, moving on to the
next endpoint after the one that failed (failover), up to spec.max_retries attempts; then a
BackendError names the endpoints, what went wrong and the attempt count. A request holds its
endpoint's slot only while it is on the wire, never while it backs off.

`generate` and `chat` hand each result to `on_result(position, generation)` as it arrives (the
call cache commits it at once): no request waits for a batch's slowest, and a failed request
loses nothing that finished beside it.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from gpu_ops.curation.output_quality import sanitize_for_storage
from gpu_ops.errors import BackendError, InputError
from gpu_ops.llm.base import (
    ChatModel,
    ChoiceScores,
    Generation,
    ModelSpec,
    SamplingParams,
    check_choices,
    check_conversation,
    check_prompts,
    choice_tree,
    expand_sampling,
    renormalize,
    sum_choice_logprobs,
)
from gpu_ops.llm.chat_template import (
    ChatRenderer,
    TemplateRendering,
    load_tokenizer,
    resolve_chat_template,
    template_hash,
)
from gpu_ops.llm.identity import model_identity

T = TypeVar("T")
_MAX_BACKOFF_S = 30.0
# Finish reasons of a request the server gave up on (vLLM: "abort" when it shuts down or the
# request is cancelled, "error" for an internal failure): retried, never stored as an answer.
_ABORTED = ("abort", "error")


class _Retryable(Exception):
    """One failed attempt that may succeed on retry."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class EndpointSlots:
    """At most `limit` requests in flight per endpoint; a request takes the first endpoint of
    its preference order with a free slot, or waits for one to free up.

    A retried request names the endpoints it already failed on (`avoid`): it waits for a slot
    on another endpoint rather than take the free slot of one that just failed. Without this a
    dead endpoint, whose slots are always free because its requests fail at once, draws every
    retry while the survivor's slots are busy (seen in CI: four attempts, all on the dead one).
    Only when it has failed on every endpoint does a request go back to one.
    """

    def __init__(self, endpoints: Sequence[str], limit: int):
        self.endpoints = list(endpoints)
        self.limit = limit
        self.in_flight = dict.fromkeys(self.endpoints, 0)
        self._changed = threading.Condition()

    @contextmanager
    def slot(self, first: int, avoid: frozenset[int] = frozenset()) -> Iterator[int]:
        """Hold a slot on the first free endpoint from index `first` on (wrapping), skipping
        the indexes in `avoid` unless that leaves none: its index."""
        count = len(self.endpoints)
        order = [(first + step) % count for step in range(count)]
        order = [i for i in order if i not in avoid] or order
        with self._changed:
            while True:
                free = [i for i in order if self.in_flight[self.endpoints[i]] < self.limit]
                if free:
                    break
                self._changed.wait()
            index = free[0]
            self.in_flight[self.endpoints[index]] += 1
        try:
            yield index
        finally:
            with self._changed:
                self.in_flight[self.endpoints[index]] -= 1
                self._changed.notify()


class OpenAIChatModel(TemplateRendering, ChatModel):
    """A model served behind one or more OpenAI-compatible endpoints."""

    streams_results = True  # generate/chat take on_result (see the module docstring)

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        tokenizer = load_tokenizer(spec, required=spec.tokenizer is not None)
        self.tokenizer = tokenizer
        self.renderer = (
            ChatRenderer(
                tokenizer, name=spec.slug, default_system_prompt=spec.default_system_prompt
            )
            if tokenizer is not None
            else None
        )
        rendering = (
            self.renderer.template_hash
            if self.renderer
            else template_hash(
                resolve_chat_template(spec.chat_template), spec.default_system_prompt
            )
        )
        self.identity = model_identity(spec, rendering)
        headers = {}
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise InputError(
                    f"{spec.slug}: environment variable {spec.api_key_env} (api_key_env) is not set"
                )
            headers["Authorization"] = f"Bearer {key}"
        connections = spec.max_concurrency * len(spec.endpoints)
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._client = httpx.Client(timeout=spec.request_timeout_s, headers=headers, limits=limits)
        self._round_robin = itertools.count()
        self._slots = EndpointSlots(spec.endpoints, spec.max_concurrency)

    # --- rendering (needs a local tokenizer) -------------------------------------------------
    def chat_renderer(self) -> ChatRenderer:
        if self.renderer is None:
            raise InputError(
                f"{self.spec.slug}: no local tokenizer for {self.spec.model!r}; set `tokenizer` in the spec "
                "to render prompts (chat() works without one)"
            )
        return self.renderer

    # --- calls -------------------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingParams | Sequence[SamplingParams],
        on_result: Callable[[int, Generation], None] | None = None,
    ) -> list[Generation]:
        prompts = check_prompts(prompts)
        params = expand_sampling(sampling, len(prompts))

        def one(item: tuple[str, SamplingParams]) -> Generation:
            prompt, p = item
            body = {"prompt": prompt, "add_special_tokens": False, **self._sampling_body(p)}
            data = self._post("/v1/completions", body, _check_completion)
            return _generation(data, data["choices"][0]["text"])

        return self._map(one, list(zip(prompts, params, strict=True)), on_result)

    def chat(
        self,
        conversations: Sequence[list[dict]],
        sampling: SamplingParams | Sequence[SamplingParams],
        on_result: Callable[[int, Generation], None] | None = None,
    ) -> list[Generation]:
        conversations = [check_conversation(c) for c in conversations]
        params = expand_sampling(sampling, len(conversations))
        system = self.spec.default_system_prompt

        def one(item: tuple[list[dict[str, str]], SamplingParams]) -> Generation:
            messages, p = item
            if system is not None and messages[0]["role"] != "system":
                messages = [{"role": "system", "content": system}, *messages]
            data = self._post(
                "/v1/chat/completions",
                {"messages": messages, **self._sampling_body(p)},
                _check_chat,
            )
            return _generation(data, data["choices"][0]["message"]["content"])

        return self._map(one, list(zip(conversations, params, strict=True)), on_result)

    def choice_logprobs(self, prompts: Sequence[str], choices: Sequence[str]) -> list[ChoiceScores]:
        """Choice log-probs, each prompt processed once by the server.

        With a local tokenizer: prompts go as token ids, one max_tokens=1 request per node of the
        choices' token trie asks for the exact log-probs of the tokens that extend it (vLLM's
        `logprob_token_ids`), level by level so that the server's prefix cache serves the prompt
        to every request after the first. Without one (text only): one echo request per choice.
        """
        prompts = check_prompts(prompts)
        choices = check_choices(choices)
        if self.tokenizer is None:
            return self._echo_choice_logprobs(prompts, choices)
        choice_ids = [self._encode(c) for c in choices]
        tree = choice_tree(choice_ids)
        encoded = [self._encode(p) for p in prompts]
        for i, ids in enumerate(encoded):
            if not ids:
                raise InputError(f"{self.spec.slug}: prompt {i} is empty")
        at: list[dict[tuple[int, ...], dict[int, float]]] = [{} for _ in prompts]
        prompt_tokens = [len(ids) for ids in encoded]
        for depth in range(max(len(c) for c in choice_ids)):
            nodes = [
                (i, prefix) for i in range(len(prompts)) for prefix in tree if len(prefix) == depth
            ]

            def one(node: tuple[int, tuple[int, ...]]) -> dict[int, float]:
                i, prefix = node
                wanted = sorted(tree[prefix])
                body = {
                    "prompt": encoded[i] + list(prefix),
                    "max_tokens": 1,
                    "temperature": 0.0,
                    "logprobs": len(wanted),
                    "logprob_token_ids": wanted,
                    "return_tokens_as_token_ids": True,
                }
                data = self._post("/v1/completions", body, _check_top_logprobs)
                return self._token_logprobs(data, wanted)

            for (i, prefix), values in zip(nodes, self._map(one, nodes), strict=True):
                at[i][prefix] = values
        scores = [s for nodes in at for s in sum_choice_logprobs(choice_ids, nodes)]
        return renormalize(choices, scores, prompt_tokens)

    def _token_logprobs(self, data: dict[str, Any], wanted: list[int]) -> dict[int, float]:
        """`token_id:N` keys of the first top_logprobs entry -> {N: logprob} for the wanted ids."""
        top = data["choices"][0]["logprobs"]["top_logprobs"][0] or {}
        found: dict[int, float] = {}
        for key, value in top.items():
            if isinstance(key, str) and key.startswith("token_id:"):
                found[int(key[len("token_id:") :])] = float(value)
        missing = [t for t in wanted if t not in found]
        if missing:
            raise BackendError(
                f"{self.spec.slug}: the server returned no logprob for choice token(s) {missing}; "
                "scoring needs vLLM's `logprob_token_ids` and `return_tokens_as_token_ids`"
            )
        return {t: found[t] for t in wanted}

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _echo_choice_logprobs(self, prompts: list[str], choices: list[str]) -> list[ChoiceScores]:
        """Text-only scoring: echo prompt+choice with prompt logprobs, once per choice."""
        pairs = [(p, c) for p in prompts for c in choices]

        def one(pair: tuple[str, str]) -> tuple[float, int]:
            prompt, choice = pair
            body = {
                "prompt": prompt + choice,
                "add_special_tokens": False,
                "echo": True,
                "logprobs": 1,
                "max_tokens": 1,
                "temperature": 0.0,
            }
            data = self._post("/v1/completions", body, _check_echo)
            return _continuation_logprob(data, len(prompt))

        results = self._map(one, pairs)
        k = len(choices)
        return renormalize(
            choices,
            [score for score, _ in results],
            [results[i * k][1] for i in range(len(prompts))],
        )

    def _sampling_body(self, p: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.spec.model,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_new_tokens,
        }
        if p.stop:
            body["stop"] = list(p.stop)
        if p.seed is not None:
            body["seed"] = p.seed
        return body

    def _map(
        self,
        fn: Callable[[Any], T],
        items: list[Any],
        on_result: Callable[[int, T], None] | None = None,
    ) -> list[T]:
        """`[fn(item) for item in items]`, as many at once as the endpoints have slots.

        `on_result(position, value)` runs in the caller's thread as each finishes. When one
        fails, the ones not started are dropped, the ones in flight still finish (and are
        reported), then the first error is raised."""
        if not items:
            return []
        workers = min(self.spec.max_concurrency * len(self.spec.endpoints), len(items))
        results: list[Any] = [None] * len(items)
        failure: BaseException | None = None
        with ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"llm-{self.spec.slug}"
        ) as pool:
            running = {pool.submit(fn, item): position for position, item in enumerate(items)}
            for future in as_completed(running):
                if future.cancelled():
                    continue
                error = future.exception()
                if error is not None:
                    if failure is None:
                        failure = error
                        for other in running:
                            other.cancel()
                    continue
                results[running[future]] = future.result()
                if on_result is not None:
                    on_result(running[future], results[running[future]])
        if failure is not None:
            raise failure
        return results

    def _post(
        self, path: str, body: dict[str, Any], check: Callable[[Any], None]
    ) -> dict[str, Any]:
        """POST with retries, backoff and endpoint failover; BackendError when all attempts fail."""
        body = {"model": self.spec.model, **body}
        endpoints = self.spec.endpoints
        first = next(self._round_robin) % len(endpoints)
        failures: dict[str, str] = {}
        failed: set[int] = set()
        for attempt in range(self.spec.max_retries):
            if len(failed) == len(endpoints):
                failed.clear()  # failed on every endpoint: each may be tried again
            with self._slots.slot(first, frozenset(failed)) as index:
                url = endpoints[index] + path
                try:
                    return self._attempt(url, body, check)
                except _Retryable as exc:
                    failures[url] = f"{exc.kind} at {url}: {exc.detail}"
                    failed.add(index)
            first = (index + 1) % len(endpoints)  # fail over: the next endpoint first
            if attempt + 1 < self.spec.max_retries:
                delay = min(_MAX_BACKOFF_S, self.spec.retry_backoff_s * 2**attempt)
                time.sleep(delay * (1 + 0.5 * random.random()))
        detail = "; ".join(failures.values())
        raise BackendError(f"{detail} after {self.spec.max_retries} attempts")

    def _attempt(
        self, url: str, body: dict[str, Any], check: Callable[[Any], None]
    ) -> dict[str, Any]:
        try:
            response = self._client.post(url, json=body)
        except httpx.TimeoutException as exc:
            raise _Retryable(
                "timeout", f"no reply within {self.spec.request_timeout_s} s ({type(exc).__name__})"
            ) from exc
        except httpx.ConnectError as exc:
            raise _Retryable("server down", f"connection refused ({exc})") from exc
        except httpx.TransportError as exc:
            raise _Retryable("transport error", f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", response.text[:200])
        if status != 200:
            raise BackendError(f"HTTP {status} at {url} (not retried): {response.text[:500]}")
        try:
            data = response.json()
            finish = (data.get("choices") or [{}])[0].get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise _Retryable(
                "malformed reply", f"{exc}; body starts {response.text[:120]!r}"
            ) from exc
        if finish in _ABORTED:  # e.g. vLLM shutting down: a 200 reply with no real answer
            raise _Retryable("aborted reply", f"finish_reason {finish!r}")
        try:
            check(data)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Retryable(
                "malformed reply", f"{exc}; body starts {response.text[:120]!r}"
            ) from exc
        return data

    def close(self) -> None:
        self._client.close()


def _check_completion(data: Any) -> None:
    if not isinstance(data["choices"][0]["text"], str):
        raise TypeError("choices[0].text is not a string")


def _check_chat(data: Any) -> None:
    if not isinstance(data["choices"][0]["message"]["content"], str):
        raise TypeError("choices[0].message.content is not a string")


def _check_echo(data: Any) -> None:
    logprobs = data["choices"][0]["logprobs"]
    if len(logprobs["token_logprobs"]) != len(logprobs["text_offset"]):
        raise ValueError("token_logprobs and text_offset differ in length")


def _generation(data: dict[str, Any], text: str) -> Generation:
    """A reply as a Generation; lone surrogates (a JSON `\\udXXX` escape) become U+FFFD, since
    they have no UTF-8 form and would fail the call cache and every Parquet write after it."""
    choice = data["choices"][0]
    usage = data.get("usage") or {}
    return Generation(
        text=sanitize_for_storage(text),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
    )


def _check_top_logprobs(data: Any) -> None:
    if not isinstance(data["choices"][0]["logprobs"]["top_logprobs"][0], dict):
        raise TypeError("choices[0].logprobs.top_logprobs[0] is not an object")


def _continuation_logprob(data: dict[str, Any], prompt_chars: int) -> tuple[float, int]:
    """Sum of logprobs of the echoed tokens whose span reaches past the original prompt, and the
    number of tokens before them (the prompt's own length in tokens)."""
    logprobs = data["choices"][0]["logprobs"]
    offsets: list[int] = logprobs["text_offset"]
    values: list[float | None] = logprobs["token_logprobs"]
    n_prompt = int((data.get("usage") or {}).get("prompt_tokens") or len(offsets) - 1)
    full_len = offsets[n_prompt] if n_prompt < len(offsets) else len(data["choices"][0]["text"])
    total, used = 0.0, 0
    for i in range(n_prompt):
        end = offsets[i + 1] if i + 1 < len(offsets) else full_len
        if end > prompt_chars:
            if values[i] is None:
                raise BackendError("server returned no logprob for a choice token")
            total += float(values[i])
            used += 1
    if used == 0:
        raise BackendError("server reply holds no tokens for the choice")
    return total, n_prompt - used
