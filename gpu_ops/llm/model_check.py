"""Check that a model can be used before a config names it: load it, render its template.

`add-expert` runs this before writing anything, so a wrong folder or a model without a usable
chat template is refused with the reason, and the config file stays as it was.
"""

from __future__ import annotations

from pathlib import Path

from gpu_ops.errors import InputError
from gpu_ops.llm.base import ModelSpec
from gpu_ops.llm.chat_template import ChatRenderer, load_tokenizer

_PROBE = [{"role": "user", "content": "Write a function that adds two numbers."}]


def check_model_usable(spec: ModelSpec) -> None:
    """Raise InputError unless the model's config and tokenizer load and its template renders
    a chat prompt and a mining pre-query (what the arena's stages ask of every expert).

    A served model (backend openai) is rendered only when its tokenizer is found locally; its
    weights live on the server, so only the template can be checked here.
    """
    served = spec.backend == "openai"
    tokenizer = load_tokenizer(spec, required=not served)
    if not served:
        _check_model_config(spec)
    if tokenizer is None:
        return
    renderer = ChatRenderer(
        tokenizer, name=spec.slug, default_system_prompt=spec.default_system_prompt
    )
    prompt = renderer.render_chat(_PROBE, add_generation_prompt=True)
    if _PROBE[0]["content"] not in prompt:
        raise InputError(f"{spec.slug}: the chat template drops the user's message")
    renderer.render_prequery()


def _check_model_config(spec: ModelSpec) -> None:
    """The model's own config.json loads: a tokenizer-only or wrong folder is refused."""
    source = spec.model
    if source.startswith(("/", "./", "../", "~")) and not Path(source).expanduser().is_dir():
        raise InputError(f"{spec.slug}: model directory {source} does not exist")
    from transformers import AutoConfig

    kwargs = {"revision": spec.revision} if spec.revision else {}
    try:
        AutoConfig.from_pretrained(source, **kwargs)
    except Exception as exc:
        raise InputError(f"{spec.slug}: cannot load model {source!r}: {exc}") from exc
