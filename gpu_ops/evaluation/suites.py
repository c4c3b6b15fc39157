"""MBPP, HumanEval+ and MBPP+ in the formats EvalPlus and the Hub publish, as HumanEval problems.

Every suite is turned into problems with task_id, prompt, entry_point and test, which
`gpu_ops.evaluation.humaneval` runs as ``prompt + completion + test + check(entry_point)`` in the
sandbox. So pass@1 means the same thing on every benchmark.

Formats, detected from the fields of the first record:
- ``humaneval``: task_id, prompt, entry_point, test (HumanEval, and `evalplus/humanevalplus` on
  the Hub, whose `test` already holds the plus inputs).
- ``evalplus``: EvalPlus release files (HumanEvalPlus.jsonl, MbppPlus.jsonl): task_id, prompt,
  entry_point, canonical_solution, base_input, plus_input, atol. Expected outputs are not in
  the file; as in EvalPlus, the test computes them by running the canonical solution on each
  input (inside the same sandboxed program), and compares with `atol` for floats.
- ``mbpp``: the original MBPP (task_id, text, code, test_list, test_setup_code).
- ``mbpp_hub_plus``: `evalplus/mbppplus` on the Hub (task_id, prompt, code, test_list, test): the
  `test` script runs after the completion.

MBPP problems have no function stub: their prompt is the EvalPlus MBPP prompt, a docstring with
the task text and its first test (which names the function to write).

Sources: a local .jsonl / .jsonl.gz / .json / .parquet file, or ``hf:OWNER/NAME[@SPLIT]`` read
with `datasets` (needs the Hub or its cache).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.io_files import read_jsonl_records

SUITES = ("humaneval+", "mbpp", "mbpp+")
HUB_PREFIX = "hf:"
_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)
_CALL = re.compile(r"assert\s+(?:not\s+)?\(?\s*(?:math\.isclose\(|set\()?\s*([A-Za-z_]\w*)\s*\(")


def read_records(source: str) -> list[dict[str, Any]]:
    """Records from a local file or a `hf:OWNER/NAME[@SPLIT]` dataset id."""
    if source.startswith(HUB_PREFIX):
        return _hub_records(source.removeprefix(HUB_PREFIX))
    path = Path(source)
    if not path.is_file():
        raise InputError(f"benchmark file not found: {path}")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return [record for _, record in read_jsonl_records(path)]
    if name.endswith(".parquet"):
        return pl.read_parquet(path).to_dicts()
    if name.endswith(".json"):
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: not valid JSON ({error.msg})") from None
        if not isinstance(records, list):
            raise InputError(f"{path}: expected a JSON array of problems")
        return records
    raise InputError(f"{path}: unsupported benchmark file type (jsonl, jsonl.gz, json, parquet)")


def _hub_records(dataset_id: str) -> list[dict[str, Any]]:
    name, _, split = dataset_id.partition("@")
    try:
        import datasets

        loaded = datasets.load_dataset(name, split=split or "test")
    except Exception as error:  # offline, unknown id, unknown split: one clear message
        raise InputError(
            f"cannot load dataset {name!r} (split {split or 'test'!r}): {error}"
        ) from None
    return [dict(row) for row in loaded]


def detect_format(record: Mapping[str, Any]) -> str:
    """Which of the known formats a problem record is in (see the module docstring)."""
    keys = set(record)
    if {"base_input", "plus_input", "canonical_solution", "entry_point", "prompt"} <= keys:
        return "evalplus"
    if {"text", "code", "test_list"} <= keys:
        return "mbpp"
    if {"code", "test_list", "test", "prompt"} <= keys:
        return "mbpp_hub_plus"
    if {"task_id", "prompt", "entry_point", "test"} <= keys:
        return "humaneval"
    raise InputError(f"unknown benchmark format: a problem has fields {sorted(keys)}")


def mbpp_prompt(text: str, first_test: str) -> str:
    """EvalPlus's MBPP prompt: the task and one test, as a docstring."""
    return f'"""\n{text.strip()}\n{first_test.strip()}\n"""\n'


def _entry_point(code: str, tests: Iterable[str]) -> str:
    """The function the tests call (defined in the reference code)."""
    defined = _DEF.findall(code)
    for test in tests:
        match = _CALL.search(test)
        if match and (not defined or match.group(1) in defined):
            return match.group(1)
    if defined:
        return defined[-1]
    raise InputError("cannot tell which function an MBPP problem asks for")


def _indented(lines: Iterable[str]) -> str:
    body = "\n".join(f"    {line}" for text in lines for line in text.strip().splitlines())
    return body or "    pass"


def from_mbpp(record: Mapping[str, Any]) -> dict[str, str]:
    tests = list(record["test_list"])
    if not tests:
        raise InputError(f"MBPP task {record.get('task_id')}: empty test_list")
    entry = _entry_point(record["code"], tests)
    setup = (record.get("test_setup_code") or "").strip()
    return {
        "task_id": f"Mbpp/{record['task_id']}",
        "prompt": mbpp_prompt(record["text"], tests[0]),
        "entry_point": entry,
        "test": (f"{setup}\n\n" if setup else "") + f"def check(candidate):\n{_indented(tests)}\n",
        "canonical_solution": record["code"],
    }


def from_mbpp_hub_plus(record: Mapping[str, Any]) -> dict[str, str]:
    tests = list(record["test_list"])
    entry = _entry_point(record["code"], tests)
    return {
        "task_id": f"Mbpp/{record['task_id']}",
        "prompt": mbpp_prompt(record["prompt"], tests[0] if tests else ""),
        "entry_point": entry,
        # The Hub's script calls the function by name at module level, after the completion.
        "test": f"{record['test']}\n\ndef check(candidate):\n    pass\n",
        "canonical_solution": record["code"],
    }


# The test EvalPlus-format problems get: reference outputs from the canonical solution, run in a
# namespace of its own, compared on every base and plus input (deep-copied: a solution may
# mutate its arguments).
_EVALPLUS_TEST = """
import copy as _copy
import math as _math

import json as _json

_REFERENCE_SOURCE = {reference!r}
_INPUTS = _json.loads({inputs!r})
_ATOL = {atol!r}


def _same(expected, got):
    if isinstance(expected, float) or isinstance(got, float):
        if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
            if _math.isnan(expected) and _math.isnan(got):
                return True
            return abs(expected - got) <= max(_ATOL, 1e-6 * abs(expected))
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return type(expected) is type(got) and len(expected) == len(got) and all(
            _same(e, g) for e, g in zip(expected, got)
        )
    return expected == got


def check(candidate):
    namespace = {{}}
    exec(_REFERENCE_SOURCE, namespace)
    reference = namespace[{entry!r}]
    for index, arguments in enumerate(_INPUTS):
        expected = reference(*_copy.deepcopy(arguments))
        got = candidate(*_copy.deepcopy(arguments))
        assert _same(expected, got), f"input #{{index}}: expected {{expected!r}}, got {{got!r}}"
"""


def _inputs_json(inputs: list[Any], task_id: str) -> str:
    """The inputs as JSON text (they come from JSON files; Infinity and NaN are allowed)."""
    try:
        return json.dumps(inputs)
    except (TypeError, ValueError) as error:
        raise InputError(f"{task_id}: test inputs are not JSON values: {error}") from None


def from_evalplus(record: Mapping[str, Any]) -> dict[str, str]:
    task_id = str(record["task_id"])
    prompt, solution, entry = record["prompt"], record["canonical_solution"], record["entry_point"]
    # HumanEval+ solutions are bodies that continue the prompt; MBPP+ solutions are whole code.
    reference = solution if _DEF.search(solution) else prompt + solution
    inputs = list(record.get("base_input") or []) + list(record.get("plus_input") or [])
    if not inputs:
        raise InputError(f"{task_id}: EvalPlus problem without base_input or plus_input")
    test = _EVALPLUS_TEST.format(
        reference=reference,
        inputs=_inputs_json(inputs, task_id),
        atol=float(record.get("atol") or 0.0),
        entry=entry,
    )
    return {
        "task_id": task_id,
        "prompt": prompt,
        "entry_point": entry,
        "test": test,
        "canonical_solution": solution,
    }


def from_humaneval(record: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(record[key]) for key in ("task_id", "prompt", "entry_point", "test")} | {
        "canonical_solution": str(record.get("canonical_solution") or "")
    }


_CONVERTERS = {
    "humaneval": from_humaneval,
    "evalplus": from_evalplus,
    "mbpp": from_mbpp,
    "mbpp_hub_plus": from_mbpp_hub_plus,
}


def load_suite(source: str) -> list[dict[str, str]]:
    """HumanEval-shaped problems from a local file or `hf:` dataset id in any known format."""
    records = read_records(source)
    if not records:
        raise InputError(f"benchmark {source!r} has no problems")
    if not all(isinstance(r, Mapping) for r in records):
        raise InputError(f"benchmark {source!r}: every problem must be an object")
    convert = _CONVERTERS[detect_format(records[0])]
    problems = [convert(record) for record in records]
    ids = [p["task_id"] for p in problems]
    if len(set(ids)) != len(ids):
        raise InputError(f"benchmark {source!r}: duplicate task_id values")
    return problems


def parse_benchmark_spec(spec: str) -> tuple[str, str] | None:
    """'mbpp+:/data/MbppPlus.jsonl' -> ('mbpp+', '/data/MbppPlus.jsonl'); None for other specs."""
    name, separator, source = spec.partition(":")
    if not separator or name not in SUITES:
        return None
    if not source:
        raise InputError(f"benchmark {spec!r}: give a source after '{name}:' (a file or hf:ID)")
    return name, source
