"""MBPP, HumanEval+ and MBPP+ in the formats EvalPlus and the Hub publish, as HumanEval problems.

Every suite is turned into problems with task_id, prompt, entry_point, test and
canonical_solution, which `gpu_ops.evaluation.humaneval` evaluates as it does HumanEval: a
separate sandboxed reference run executes ``check(candidate)`` with the canonical solution and
records every call to ``candidate`` with its result; the completion only answers those calls and
the parent compares the values. So every suite's ``check`` must call ``candidate`` (a check that
never does is refused), and no assert ever runs near the completion. pass@1 means the same thing
on every benchmark.

Formats, detected from the fields of the first record:
- ``humaneval``: task_id, prompt, entry_point, test (HumanEval, and `evalplus/humanevalplus` on
  the Hub, whose `test` already holds the plus inputs and calls ``candidate``; the tolerance
  written inside that test is not read, so floats use the harness default).
- ``evalplus``: EvalPlus release files (HumanEvalPlus.jsonl, MbppPlus.jsonl): task_id, prompt,
  entry_point, canonical_solution, base_input, plus_input, atol. Expected outputs are not in
  the file; ``check`` calls ``candidate`` once per base and plus input, so the reference run
  computes them from the canonical solution, as EvalPlus does. The problem keeps the task's
  ``atol`` field, which the harness uses for float comparisons (EvalPlus's rule: ``atol``, 1e-6
  when 0, relative 1e-7).
- ``mbpp``: the original MBPP (task_id, text, code, test_list, test_setup_code): the asserts,
  which call the function by name, run inside ``check`` with that name bound to ``candidate``.
- ``mbpp_hub_plus``: `evalplus/mbppplus` on the Hub (task_id, prompt, code, test_list, test): the
  module-level `test` script runs inside ``check``, in a copy of the namespace where the
  function's name is ``candidate``.

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
    # The asserts call the function by name: inside check that name is the candidate, so every
    # call reaches the harness's recorder (the asserts themselves only run on the reference).
    return {
        "task_id": f"Mbpp/{record['task_id']}",
        "prompt": mbpp_prompt(record["text"], tests[0]),
        "entry_point": entry,
        "test": (f"{setup}\n\n" if setup else "")
        + f"def check(candidate):\n    {entry} = candidate\n{_indented(tests)}\n",
        "canonical_solution": record["code"],
    }


# The Hub's MBPP+ script calls the function by name at module level; check runs it in a copy of
# the module namespace where that name is the candidate (its own helpers see the same binding).
_HUB_SCRIPT_TEST = """
_SCRIPT = {script!r}


def check(candidate):
    namespace = dict(globals())
    namespace[{entry!r}] = candidate
    exec(compile(_SCRIPT, "mbpp_plus_test.py", "exec"), namespace)
"""


def from_mbpp_hub_plus(record: Mapping[str, Any]) -> dict[str, str]:
    tests = list(record["test_list"])
    entry = _entry_point(record["code"], tests)
    return {
        "task_id": f"Mbpp/{record['task_id']}",
        "prompt": mbpp_prompt(record["prompt"], tests[0] if tests else ""),
        "entry_point": entry,
        "test": _HUB_SCRIPT_TEST.format(script=str(record["test"]), entry=entry),
        "canonical_solution": record["code"],
    }


# The test EvalPlus-format problems get: one call to the candidate per base and plus input. The
# harness's reference run records what the canonical solution returns for each (on deep copies:
# a solution may mutate its arguments); the parent compares with the problem's `atol`.
_EVALPLUS_TEST = """
import json as _json

_INPUTS = _json.loads({inputs!r})


def check(candidate):
    for arguments in _INPUTS:
        candidate(*arguments)
"""


def _inputs_json(inputs: list[Any], task_id: str) -> str:
    """The inputs as JSON text (they come from JSON files; Infinity and NaN are allowed)."""
    try:
        return json.dumps(inputs)
    except (TypeError, ValueError) as error:
        raise InputError(f"{task_id}: test inputs are not JSON values: {error}") from None


def from_evalplus(record: Mapping[str, Any]) -> dict[str, Any]:
    task_id = str(record["task_id"])
    prompt, solution, entry = record["prompt"], record["canonical_solution"], record["entry_point"]
    # The reference run executes prompt + canonical_solution: HumanEval+ solutions are bodies
    # that continue the prompt, MBPP+ solutions whole code after a docstring prompt; both work.
    inputs = list(record.get("base_input") or []) + list(record.get("plus_input") or [])
    if not inputs:
        raise InputError(f"{task_id}: EvalPlus problem without base_input or plus_input")
    atol = record.get("atol") or 0.0
    if type(atol) not in (int, float):
        raise InputError(f"{task_id}: atol must be a number, got {atol!r}")
    return {
        "task_id": task_id,
        "prompt": prompt,
        "entry_point": entry,
        "test": _EVALPLUS_TEST.format(inputs=_inputs_json(inputs, task_id)),
        "canonical_solution": solution,
        "atol": float(atol),
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


def load_suite(source: str) -> list[dict[str, Any]]:
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
