"""EvalPlus's prompts, stops and answer extraction, as the paper's HumanEval(+)/MBPP(+) scores use.

EvalPlus (`evalplus.codegen`, `evalplus.provider`) asks a model in one of two ways:

- chat (a model with a chat template, e.g. the fine-tuned target): the user turn is
  INSTRUCTION_PREFIX and the task's prompt in a bare fence; the assistant turn is already
  started with RESPONSE_PREFIX and an open ```python fence, so the model writes code from its
  first token. Generation stops at the closing fence (CHAT_STOPS).
- direct completion (a base model): the task's prompt, stripped, plus a newline; the model
  continues it and stops at the next top-level statement (`completion_stops`, per dataset).

Greedy decoding: temperature 0, top_p 1, one sample, at most MAX_NEW_TOKENS new tokens.
The answer is then cut down to what the task needs (`sanitize`): imports, top-level
functions, classes and assignments, so test calls or prints the model wrote after the
function never run. Scoring is the project's (`gpu_ops.evaluation.humaneval`).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from gpu_ops.llm import ChatModel

INSTRUCTION_PREFIX = (
    "Please provide a self-contained Python script that solves the following problem in a "
    "markdown code block:"
)
RESPONSE_PREFIX = (
    "Below is a Python script with a self-contained function that solves the problem and "
    "passes corresponding tests:"
)
MAX_NEW_TOKENS = 768  # EvalPlus's default max_new_tokens
# EvalPlus's end-of-sequence strings for every model, then the closing fence for chat models.
EOS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(")
CHAT_STOPS = (*EOS, "\n```\n")
_DIRECT_STOPS = {
    "humaneval": ("\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert "),
    "mbpp": ('\n"""', "\nassert"),
}
_SPLIT = "\x00-evalplus-response-starts-here-\x00"
_KEPT = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
)


def dataset_of(problem: Mapping[str, Any]) -> str:
    """'mbpp' for MBPP(+) tasks (task_id Mbpp/N), else 'humaneval' (EvalPlus's two datasets)."""
    return "mbpp" if str(problem["task_id"]).lower().startswith("mbpp/") else "humaneval"


def completion_stops(problem: Mapping[str, Any]) -> tuple[str, ...]:
    """Stops of a base model's continuation: EvalPlus's EOS plus its dataset's extra stops."""
    return (*EOS, *_DIRECT_STOPS[dataset_of(problem)])


def direct_prompt(problem: Mapping[str, Any]) -> str:
    """The base-model prompt: the task's prompt, stripped, and one newline."""
    return str(problem["prompt"]).strip() + "\n"


def chat_prompt(model: ChatModel, problem: Mapping[str, Any]) -> str:
    """The chat prompt rendered by the model's template, ending inside the assistant's
    ```python fence (EvalPlus renders the answer turn with a marker and cuts there)."""
    user = f"{INSTRUCTION_PREFIX}\n```\n{str(problem['prompt']).strip()}\n```\n"
    answer = f"{RESPONSE_PREFIX}\n```python\n{_SPLIT}\n```\n"
    rendered = model.render_chat(
        [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        add_generation_prompt=False,
    )
    return rendered.split(_SPLIT)[0]


def _parsable_prefix(code: str) -> ast.Module | None:
    """The module of the longest run of leading lines that parses (a reply cut by the token
    limit still keeps its complete functions)."""
    lines = code.splitlines()
    for end in range(len(lines), 0, -1):
        try:
            return ast.parse("\n".join(lines[:end]))
        except SyntaxError:
            continue
    return None


def sanitize(code: str) -> str:
    """Imports, functions, classes and assignments of `code` (top level), in their order.

    Unparsable code is returned as it is: the harness then reports it as a syntax error.
    """
    module = _parsable_prefix(code)
    if module is None:
        return code
    kept = [node for node in module.body if isinstance(node, _KEPT)]
    return "\n\n".join(ast.unparse(node) for node in kept) + "\n"
