"""load_model: pick the backend of a ModelSpec and wrap it in the call cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpu_ops.llm.base import ChatModel, ModelSpec

if TYPE_CHECKING:
    from gpu_ops.llm.cache import CachedChatModel, CallCache


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
