"""Code and test extraction from free-form model text."""

from __future__ import annotations

import ast

from gpu_ops.code_extract import extract_code_blocks, extract_tests
from gpu_ops.sandbox import run_code

FENCE = "```"


def test_typed_python_fences_win_over_untyped() -> None:
    response = f"Intro\n{FENCE}python\ndef f():\n    return 1\n{FENCE}\nthen\n{FENCE}\nprint(f())\n{FENCE}\n"
    assert extract_code_blocks(response) == ["def f():\n    return 1"]


def test_several_typed_blocks_and_aliases_in_order() -> None:
    response = f"{FENCE}py\na = 1\n{FENCE}\ntext\n{FENCE}Python3\nb = 2\n{FENCE}"
    assert extract_code_blocks(response) == ["a = 1", "b = 2"]


def test_untyped_fences_are_used_when_no_typed_ones() -> None:
    response = f"Try this:\n{FENCE}\nx = [1, 2]\nprint(x)\n{FENCE}\n"
    assert extract_code_blocks(response) == ["x = [1, 2]\nprint(x)"]


def test_other_languages_are_not_python() -> None:
    response = f"{FENCE}javascript\nconsole.log(1)\n{FENCE}\n"
    assert extract_code_blocks(response) == []
    assert extract_code_blocks(response, language="javascript") == ["console.log(1)"]


def test_unclosed_fence_runs_to_end_of_text() -> None:
    assert extract_code_blocks(f"{FENCE}python\ndef g(x):\n    return x * 2\n") == [
        "def g(x):\n    return x * 2"
    ]


def test_verdict_like_tokens_inside_code_are_code() -> None:
    response = f"{FENCE}python\nverdict = '[[A]]'  # [[B]]\n{FENCE}\n[[Tie]]"
    assert extract_code_blocks(response) == ["verdict = '[[A]]'  # [[B]]"]


def test_bare_code_heuristic_finds_unfenced_code() -> None:
    response = (
        "Here you go\nimport math\n\ndef area(r):\n    return math.pi * r * r\nHope this helps!"
    )
    blocks = extract_code_blocks(response)
    assert blocks == ["import math\n\ndef area(r):\n    return math.pi * r * r"]
    assert extract_code_blocks("def f(x):\n    return x\n") == ["def f(x):\n    return x"]


def test_prose_yields_no_code() -> None:
    assert extract_code_blocks("Recursion is when a function calls itself.") == []
    assert extract_code_blocks("") == []


def test_asserts_from_instruction_and_response_including_multiline() -> None:
    instruction = "Write add.\nassert add(1, 2) == 3\nassert (add(2,\n    2) == 4)\n"
    response = f"{FENCE}python\ndef add(a, b):\n    return a + b\nassert add(0, 0) == 0\n{FENCE}"
    tests = extract_tests(instruction, response)
    assert tests[:2] == ["assert add(1, 2) == 3", "assert (add(2,\n2) == 4)"]
    assert "assert add(0, 0) == 0" in tests
    assert all(ast.parse(t) for t in tests)


def test_duplicates_are_dropped_and_prose_asserts_ignored() -> None:
    tests = extract_tests("assert f() == 1\nWe assert that it is fast.", "assert f() == 1")
    assert tests == ["assert f() == 1"]


def test_doctest_examples_need_expected_output_and_run_in_the_sandbox() -> None:
    instruction = "Implement sq.\n>>> sq(3)\n9\n>>> y = 2\n>>> sq(y)\n4\n\n>>> sq(1)\n"
    tests = extract_tests(instruction, "")
    assert len(tests) == 2  # the last example states no expected output
    good = "def sq(x):\n    return x * x\n"
    bad = "def sq(x):\n    return x + x\n"
    for solution, expected in ((good, "True True"), (bad, "False True")):
        program = solution + "".join(
            f"try:\n    exec({t!r}, dict(globals()))\n    print(True, end=' ')\nexcept AssertionError:\n    print(False, end=' ')\n"
            for t in tests
        )
        result = run_code(program, timeout_s=10)
        assert result.stdout.strip() == expected, result.stderr


def test_bare_code_search_stays_linear_on_junk(monkeypatch):
    """Hundreds of code-looking lines that never parse, and binary junk: a bounded number of
    parses (the old exhaustive search made one parse per (start, end) line pair)."""
    from gpu_ops import code_extract

    calls = []
    real = code_extract._syntax_error_line
    monkeypatch.setattr(
        code_extract, "_syntax_error_line", lambda source: calls.append(1) or real(source)
    )
    junk = "\n".join(["def f(:"] * 400 + ["\x00\xff" * 50] * 2000)
    assert extract_code_blocks(junk) == []
    bound = code_extract._MAX_BARE_STARTS * code_extract._MAX_PARSES_PER_START
    assert 0 < len(calls) <= bound


def test_bare_code_cut_at_the_error_keeps_the_longest_parsing_run():
    text = "Here:\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\nThat is all, friend.\n"
    assert extract_code_blocks(text) == ["def add(a, b):\n    return a + b\n\nprint(add(1, 2))"]
