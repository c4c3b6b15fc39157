"""load_model: pick the backend of a ModelSpec; model identities for cache keys."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from gpu_ops.llm.base import ChatModel, ModelSpec

if TYPE_CHECKING:
    from gpu_ops.llm.cache import CachedChatModel, CallCache

_SMALL_FILE = 64 * 1024 * 1024  # content-hash files up to this size, else name + size + mtime


def load_model(
    spec: ModelSpec, cache: CallCache | None = None, *, purpose: str = "llm"
) -> ChatModel | CachedChatModel:
    """Load the backend named by spec.backend; wrap it in a CachedChatModel when cache is given.

    `purpose` names the stage using the model (e.g. "judgments") for the cache's crash point.
    """
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"load_model expects a ModelSpec, got {type(spec).__name__}")
    model: ChatModel
    if spec.backend == "transformers":
        from gpu_ops.llm.transformers_backend import TransformersChatModel

        model = TransformersChatModel(spec)
    elif spec.backend == "vllm":
        from gpu_ops.llm.vllm_backend import VllmChatModel

        model = VllmChatModel(spec)
    else:
        from gpu_ops.llm.openai_backend import OpenAIChatModel

        model = OpenAIChatModel(spec)
    if cache is None:
        return model
    from gpu_ops.llm.cache import CachedChatModel

    return CachedChatModel(model, cache, purpose=purpose)


def weights_fingerprint(model: str, revision: str | None = None) -> str:
    """Changes when a local model's files change; for a hub id, the id and revision.

    Small files (config, tokenizer, small weights) are content-hashed; large weight files
    contribute name, size and mtime so big checkpoints are not read in full.
    """
    path = Path(model).expanduser()
    if not path.is_dir():
        return f"{model}@{revision or 'main'}"
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        stat = file.stat()
        digest.update(rel.encode() + b"\0")
        if stat.st_size <= _SMALL_FILE:
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        else:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{path.resolve().name}#{digest.hexdigest()[:16]}"


def model_identity(spec: ModelSpec, template_hash: str | None) -> str:
    """Backend + weights + dtype + template: a stable string for cache keys."""
    weights = (
        spec.model if spec.backend == "openai" else weights_fingerprint(spec.model, spec.revision)
    )
    if spec.backend == "openai" and spec.revision:
        weights += f"@{spec.revision}"
    parts = [spec.backend, weights, f"dtype={spec.dtype}", f"template={template_hash or 'none'}"]
    return "|".join(parts)
