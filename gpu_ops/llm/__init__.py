"""LLM backends behind one interface (transformers, vLLM, OpenAI-compatible servers) + call cache.

Importing this package is cheap: torch, transformers and vllm load only with a backend.
"""

from gpu_ops.errors import BackendError, InputError
from gpu_ops.llm.base import ChatModel, ChoiceScores, Generation, ModelSpec, SamplingParams
from gpu_ops.llm.cache import CachedChatModel, CallCache
from gpu_ops.llm.identity import model_identity
from gpu_ops.llm.loading import load_model

__all__ = [
    "BackendError",
    "CachedChatModel",
    "CallCache",
    "ChatModel",
    "ChoiceScores",
    "Generation",
    "InputError",
    "ModelSpec",
    "SamplingParams",
    "load_model",
    "model_identity",
]
