"""A persistent LLM call cache (SQLite) and a ChatModel wrapper that only computes misses.

Safe for several processes: WAL journal, busy timeout, one transaction per committed batch.
A killed run keeps every batch it committed, so a rerun resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gpu_ops.failpoints import failpoint
from gpu_ops.llm.base import (
    ChatModel,
    ChoiceScores,
    Generation,
    SamplingParams,
    check_choices,
    check_conversation,
    check_prompts,
    expand_sampling,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


def call_key(
    identity: str, kind: str, payload: Any, params: dict | None, choices: Sequence[str] | None
) -> str:
    """sha256 of the canonical JSON of everything that determines a call's result."""
    canonical = json.dumps(
        {"model": identity, "kind": kind, "input": payload, "params": params, "choices": choices},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CallCache:
    """key -> JSON result store in one SQLite file."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Results of the keys that are stored (decoded JSON)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, result FROM calls WHERE key IN ({marks})", chunk
                )
                found.update((k, json.loads(r)) for k, r in rows)
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        return found

    def put_many(self, entries: Iterable[tuple[str, str, str, Any]]) -> None:
        """Store (key, model identity, kind, result) rows in one committed transaction."""
        now = time.time()
        rows = [(k, m, kind, json.dumps(r, ensure_ascii=False), now) for k, m, kind, r in entries]
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?)", rows)
            self.writes += len(rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "entries": len(self),
            "hits": self.hits,
            "misses": self.misses,
            "writes": self.writes,
        }

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class CachedChatModel(ChatModel):
    """Wraps a ChatModel: serves hits from the cache, sends misses in batches of spec.batch_size.

    A model that `streams_results` (served experts: the OpenAI backend) gets every miss of a
    generate/chat call at once, keeps its endpoints' slots full, and each result is committed as
    it arrives, one transaction each: no batch barrier, and a killed driver keeps every finished
    call. Unseeded sampling (seed None, temperature > 0) asks for a fresh sample each time and
    bypasses the cache; greedy and seeded calls and choice_logprobs are cached.
    """

    def __init__(
        self,
        model: ChatModel,
        cache: CallCache,
        *,
        batch_size: int | None = None,
        purpose: str = "llm",
    ):
        self.model = model
        self.purpose = purpose  # the stage asking, e.g. "judgments": names its crash point
        self.cache = cache
        self.spec = getattr(model, "spec", None)
        self.batch_size = batch_size or (self.spec.batch_size if self.spec else 16)
        self.identity = model.identity
        self.hits = 0
        self.misses = 0
        self.model_calls = 0

    def render_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        return self.model.render_chat(messages, add_generation_prompt)

    def render_prequery(self, system_prompt: str | None = None) -> str:
        return self.model.render_prequery(system_prompt)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return self.model.stop_strings

    def generate(
        self, prompts: Sequence[str], sampling: SamplingParams | Sequence[SamplingParams]
    ) -> list[Generation]:
        return self._sampled("generate", check_prompts(prompts), sampling, self.model.generate)

    def chat(
        self,
        conversations: Sequence[list[dict]],
        sampling: SamplingParams | Sequence[SamplingParams],
    ) -> list[Generation]:
        conversations = [check_conversation(c) for c in conversations]
        return self._sampled("chat", conversations, sampling, self.model.chat)

    def _sampled(
        self,
        kind: str,
        inputs: list[Any],
        sampling: SamplingParams | Sequence[SamplingParams],
        call: Callable[[list[Any], list[SamplingParams]], list[Generation]],
    ) -> list[Generation]:
        """Generations of `kind` (prompts or conversations, one sampling each): cache hits, and
        the misses from the wrapped model's `call` in batches."""
        params = expand_sampling(sampling, len(inputs))
        items = list(zip(inputs, params, strict=True))
        stream = None
        if getattr(self.model, "streams_results", False):

            def stream(batch: list[Any], on_result: Callable[[int, Any], None]) -> list[Any]:
                return call([x for x, _ in batch], [s for _, s in batch], on_result=on_result)

        results = self._run(
            kind,
            items,
            lambda it: call_key(self.identity, kind, it[0], asdict(it[1]), None),
            lambda batch: call([x for x, _ in batch], [s for _, s in batch]),
            [_cacheable(s) for s in params],
            stream=stream,
        )
        return [Generation(**r) for r in results]

    def choice_logprobs(self, prompts: Sequence[str], choices: Sequence[str]) -> list[ChoiceScores]:
        prompts = check_prompts(prompts)
        choices = check_choices(choices)
        # Kind "choice_scores": entries hold the prompt's token count too (older
        # "choice_logprobs" entries, plain log-prob dicts, are never read back as these).
        results = self._run(
            "choice_scores",
            prompts,
            lambda p: call_key(self.identity, "choice_scores", p, None, choices),
            lambda batch: self.model.choice_logprobs(batch, choices),
            [True] * len(prompts),
        )
        return [ChoiceScores(**r) for r in results]

    def _run(
        self,
        kind: str,
        items: list[Any],
        key_of: Callable[[Any], str],
        call: Callable[[list[Any]], list[Any]],
        cacheable: list[bool],
        stream: Callable[[list[Any], Callable[[int, Any], None]], list[Any]] | None = None,
    ) -> list[Any]:
        """Look up all keys, compute unique misses batch by batch, commit each batch (with
        `stream`: all misses in one call, each committed as it arrives)."""
        keys = [key_of(it) if ok else None for it, ok in zip(items, cacheable, strict=True)]
        stored = self.cache.get_many(k for k in keys if k is not None)
        results: list[Any] = [stored.get(k) if k is not None else None for k in keys]
        self.hits += sum(r is not None for r in results)
        todo: list[int] = []
        seen: dict[str, int] = {}
        for i, k in enumerate(keys):
            if results[i] is None and (k is None or k not in seen):
                todo.append(i)
                if k is not None:
                    seen[k] = i
        self.misses += len(todo)
        if stream is not None and todo:
            self._stream(kind, items, keys, todo, results, stream)
            todo = []
        size = self.batch_size
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            outputs = call([items[i] for i in batch])
            self.model_calls += 1
            encoded = [asdict(o) for o in outputs]
            for i, value in zip(batch, encoded, strict=True):
                results[i] = value
            self.cache.put_many(
                (keys[i], self.identity, kind, v)
                for i, v in zip(batch, encoded, strict=True)
                if keys[i] is not None
            )
            failpoint(f"llm.{self.purpose}.committed")
        for i, k in enumerate(keys):  # duplicates of a computed key
            if results[i] is None and k is not None:
                results[i] = results[seen[k]]
        return results

    def _stream(
        self,
        kind: str,
        items: list[Any],
        keys: list[str | None],
        todo: list[int],
        results: list[Any],
        stream: Callable[[list[Any], Callable[[int, Any], None]], list[Any]],
    ) -> None:
        """Every miss in one streaming call; each result stored and committed as it arrives."""

        def arrived(position: int, output: Any) -> None:
            i = todo[position]
            results[i] = asdict(output)
            if keys[i] is not None:
                self.cache.put_many([(keys[i], self.identity, kind, results[i])])
                failpoint(f"llm.{self.purpose}.committed")

        stream([items[i] for i in todo], arrived)
        self.model_calls += 1

    def close(self) -> None:
        self.model.close()


def _cacheable(params: SamplingParams) -> bool:
    return params.seed is not None or params.temperature == 0
