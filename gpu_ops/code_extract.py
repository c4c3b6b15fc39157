"""Pull code and the tests it should pass out of free-form model text (no execution here).

Code: fenced blocks tagged with the language first, then untagged fences, then a bare-code
heuristic (the text, or a run of lines starting at ``def``/``class``/``import``, parses as Python).
Text inside a block is code, whatever it says (``[[A]]`` in a string literal is just a string).

Tests: ``assert`` statements and ``>>>`` doctest examples with their expected output, found in the
instruction or the response, each returned as a self-contained Python snippet.
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S
)
_ALIASES = {"python": {"python", "py", "python3", "py3", "ipython", "pycon"}}
_BARE_START = re.compile(r"^(def |class |import |from \S+ import |async def |@\w)")
_MAX_ASSERT_LINES = 8
_MAX_BARE_STARTS = 64  # code-looking lines tried as the start of bare code
_MAX_PARSES_PER_START = 32


def parses(source: str) -> bool:
    """Whether the source is valid Python (ast only: nothing runs)."""
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # deep nesting: not usable
        return False
    return True


def _fenced(response: str) -> list[tuple[str, str]]:
    """(tag, body) of every fenced block; an unclosed last fence runs to the end of the text."""
    return [(m.group(2).lower(), m.group(3).rstrip()) for m in _FENCE.finditer(response)]


def _syntax_error_line(source: str) -> int | None:
    """1-based line of the first syntax error, 0 when the line is unknown, None if it parses."""
    try:
        ast.parse(source)
    except SyntaxError as error:
        return error.lineno or 0
    except (ValueError, RecursionError, MemoryError):
        return 0
    return None


def _longest_parsing_run(lines: list[str], start: int) -> str | None:
    """The longest run of lines from `start` that parses, searched by cutting at the error.

    Each failed parse moves the end to just before the line the error points at (at least one
    line back), so a long junk text costs a few parses per start instead of one per line.
    """
    end = len(lines)
    for _ in range(_MAX_PARSES_PER_START):
        if end <= start:
            return None
        source = "\n".join(lines[start:end])
        bad = _syntax_error_line(source)
        if bad is None:
            return source.strip() or None
        end = min(end - 1, start + bad - 1) if bad > 0 else end - 1
    return None


def _bare_code(response: str) -> list[str]:
    text = response.strip()
    if text and parses(text) and any(_BARE_START.match(line) for line in text.splitlines()):
        return [text]
    lines = response.splitlines()
    starts = [i for i, line in enumerate(lines) if _BARE_START.match(line)][:_MAX_BARE_STARTS]
    for start in starts:
        candidate = _longest_parsing_run(lines, start)
        if candidate:
            return [candidate]
    return []


def tagged_blocks(response: str, tags: set[str]) -> list[str]:
    """Bodies of the fenced blocks whose language tag is one of ``tags`` (lower case)."""
    if not isinstance(response, str):
        return []
    return [body for tag, body in _fenced(response) if tag in tags]


def extract_code_blocks(response: str, language: str = "python") -> list[str]:
    """Code blocks in ``response`` for ``language`` (non-empty, in order of appearance)."""
    if not isinstance(response, str):
        return []
    tags = _ALIASES.get(language.lower(), {language.lower()})
    blocks = _fenced(response)
    typed = [body for tag, body in blocks if tag in tags and body.strip()]
    if typed:
        return typed
    untyped = [body for tag, body in blocks if not tag and body.strip()]
    if untyped:
        return untyped
    if blocks or language.lower() != "python":
        return []
    return _bare_code(response)


def _assert_statements(text: str) -> list[str]:
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith("assert ") and not stripped.startswith("assert("):
            continue
        for end in range(i + 1, min(len(lines), i + _MAX_ASSERT_LINES) + 1):
            candidate = "\n".join(part.strip() for part in lines[i:end])
            if parses(candidate):
                found.append(candidate)
                break
    return found


def _doctest_examples(text: str) -> list[str]:
    """Groups of consecutive ``>>>``/``...`` lines with the expected output that follows."""
    groups: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith(">>>"):
            if current and not current[-1].lstrip().startswith((">>>", "...")):
                groups.append(current)  # a new example after an expected output
                current = []
            current.append(stripped)
        elif (
            current
            and stripped.startswith("...")
            and current[-1].lstrip().startswith((">>>", "..."))
        ):
            current.append(stripped)
        elif current and stripped and not stripped.startswith("```"):
            current.append(stripped)  # expected output
        else:
            if current:
                groups.append(current)
            current = []
    return [
        "\n".join(group) for group in groups if any(not g.startswith((">>>", "...")) for g in group)
    ]


def _doctest_snippet(example: str) -> str:
    """Run one example group with the doctest module on a copy of the module globals."""
    return (
        "import doctest as _wc_doctest\n"
        "_wc_runner = _wc_doctest.DocTestRunner(optionflags=_wc_doctest.ELLIPSIS | _wc_doctest.NORMALIZE_WHITESPACE)\n"
        f"_wc_test = _wc_doctest.DocTestParser().get_doctest({example!r}, dict(globals()), 'example', 'example', 0)\n"
        "_wc_runner.run(_wc_test, out=lambda _text: None, clear_globs=False)\n"
        "assert _wc_runner.failures == 0, 'doctest example failed: ' + "
        + repr(example.splitlines()[0])
        + "\n"
    )


def assert_snippets(text: str) -> list[str]:
    """Every ``assert`` statement in ``text`` (joined when it spans lines), as source."""
    return _assert_statements(text or "")


def doctest_groups(text: str) -> list[list[str]]:
    """Every doctest example group in ``text``: its stripped ``>>>``/``...``/output lines."""
    return [example.splitlines() for example in _doctest_examples(text or "")]


def extract_tests(instruction: str, response: str) -> list[str]:
    """Runnable test snippets (asserts, doctest examples) stated in the instruction or response.

    Each snippet runs on its own in a namespace holding the solution's globals; duplicates are
    dropped. Snippets that do not parse are left out.
    """
    tests: list[str] = []
    for text in (instruction or "", response or ""):
        tests.extend(_assert_statements(text))
        tests.extend(_doctest_snippet(example) for example in _doctest_examples(text))
    unique = list(dict.fromkeys(tests))
    return [test for test in unique if parses(test)]
