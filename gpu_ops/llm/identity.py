"""Model identities for cache keys: backend, weights fingerprint, dtype and chat template.

Its own module so the backends can name their identity without importing `load_model`,
which imports the backends (no import cycle).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from gpu_ops.llm.base import ModelSpec

_SMALL_FILE = 64 * 1024 * 1024  # content-hash files up to this size, else name + size + mtime


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
