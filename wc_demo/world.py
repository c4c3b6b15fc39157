"""The demo world: small compositional coding tasks that tiny models can master, with hidden tests.

A task applies two or three primitive steps of one family to its input and returns the result:

    "Write a Python function solve(s) that takes a string s. Reverse it, then convert it to
    uppercase. Return the result."  ->  def solve(s): s = s[::-1]; s = s.upper(); return s

Three arena families (text, lists, numbers) of twelve steps each give ~4,700 compositions. Each
composition has one reference program (a line per step) and hidden tests: its reference run on
fixed inputs. Held-out compositions never reach any expert's training data and form the
benchmark, so a model must compose steps it learned separately to solve them. They are held out
by behaviour: a seeded tenth of the hidden-test signatures, with every composition that has one,
so no training composition passes a benchmark task's tests. A fourth family (words) is reserved
for the judging phase: the experts learn to judge on it alone, and the arena never battles it.

The world also reads instructions back: `parse_instruction` recovers the composition of any
instruction written in the world's phrasing (a mined one too), which is how the execution judge
gets hidden tests for instructions the experts mined (`world_tests`). Nothing here executes
model-written code; references run in-process because the world wrote them.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise, product
from typing import TYPE_CHECKING, Any

from gpu_ops.errors import InputError

if TYPE_CHECKING:
    import polars as pl

ENTRY_POINT = "solve"
MIN_STEPS, MAX_STEPS = 2, 3
HELDOUT_FRACTION = 0.10


@dataclass(frozen=True)
class Step:
    """One primitive: how the world says it, the line of code that does it, and what it computes."""

    name: str
    phrases: tuple[str, ...]  # imperative, lowercase: "reverse it"
    line: str  # one statement on the family's variable
    apply: Callable[[Any], Any]


@dataclass(frozen=True)
class Family:
    name: str
    variable: str
    noun: str  # "a string s"
    inputs: tuple[Any, ...]  # the hidden tests' inputs
    steps: tuple[Step, ...]


def _digit_sum(n: int) -> int:
    return sum(int(d) for d in str(abs(n)))


def _reverse_digits(n: int) -> int:
    return int(str(abs(n))[::-1])


_VOWELS = "aeiou"

FAMILIES: tuple[Family, ...] = (
    Family(
        name="text",
        variable="s",
        noun="a string s",
        inputs=("hello world", "Data Science", "abc xyz", "Python Code 3", "a man a plan"),
        steps=(
            Step("reverse", ("reverse it", "reverse the string"), "s = s[::-1]", lambda s: s[::-1]),
            Step(
                "upper",
                ("convert it to uppercase", "make every letter uppercase"),
                "s = s.upper()",
                str.upper,
            ),
            Step(
                "lower",
                ("convert it to lowercase", "make every letter lowercase"),
                "s = s.lower()",
                str.lower,
            ),
            Step(
                "no_spaces",
                ("remove the spaces", "delete every space"),
                's = s.replace(" ", "")',
                lambda s: s.replace(" ", ""),
            ),
            Step(
                "no_vowels",
                ("remove the vowels", "delete every vowel"),
                's = "".join(c for c in s if c.lower() not in "aeiou")',
                lambda s: "".join(c for c in s if c.lower() not in _VOWELS),
            ),
            Step(
                "double_chars",
                ("double every character", "repeat each character twice"),
                's = "".join(c * 2 for c in s)',
                lambda s: "".join(c * 2 for c in s),
            ),
            Step("first_five", ("keep the first five characters",), "s = s[:5]", lambda s: s[:5]),
            Step(
                "drop_first_char",
                ("drop the first character", "remove the first character"),
                "s = s[1:]",
                lambda s: s[1:],
            ),
            Step(
                "swapcase",
                ("swap the case of every letter",),
                "s = s.swapcase()",
                str.swapcase,
            ),
            Step(
                "sort_chars",
                ("sort its characters", "put its characters in sorted order"),
                's = "".join(sorted(s))',
                lambda s: "".join(sorted(s)),
            ),
            Step("title", ("capitalize every word",), "s = s.title()", str.title),
            Step(
                "append_bang",
                ("add an exclamation mark at the end",),
                's = s + "!"',
                lambda s: s + "!",
            ),
        ),
    ),
    Family(
        name="lists",
        variable="xs",
        noun="a list of integers xs",
        inputs=(
            (3, -1, 4, 1, -5, 9, 2, 6),
            (10, 7, 7, 2),
            (-2, -4, 5),
            (1, 2, 3, 4, 5, 6),
            (8, 8, 1),
        ),
        steps=(
            Step(
                "sort",
                ("sort it in ascending order", "sort the numbers from smallest to largest"),
                "xs = sorted(xs)",
                sorted,
            ),
            Step(
                "sort_desc",
                ("sort it in descending order", "sort the numbers from largest to smallest"),
                "xs = sorted(xs, reverse=True)",
                lambda xs: sorted(xs, reverse=True),
            ),
            Step(
                "reverse_list",
                ("reverse the list", "reverse the order of the elements"),
                "xs = xs[::-1]",
                lambda xs: list(xs)[::-1],
            ),
            Step(
                "evens",
                ("keep only the even numbers", "remove the odd numbers"),
                "xs = [v for v in xs if v % 2 == 0]",
                lambda xs: [v for v in xs if v % 2 == 0],
            ),
            Step(
                "odds",
                ("keep only the odd numbers", "remove the even numbers"),
                "xs = [v for v in xs if v % 2 == 1]",
                lambda xs: [v for v in xs if v % 2 == 1],
            ),
            Step(
                "double_each",
                ("double every number", "multiply each element by two"),
                "xs = [v * 2 for v in xs]",
                lambda xs: [v * 2 for v in xs],
            ),
            Step(
                "increment",
                ("add one to every number", "increase each element by one"),
                "xs = [v + 1 for v in xs]",
                lambda xs: [v + 1 for v in xs],
            ),
            Step(
                "square_each",
                ("square every number", "replace each element by its square"),
                "xs = [v * v for v in xs]",
                lambda xs: [v * v for v in xs],
            ),
            Step(
                "drop_first",
                ("drop the first element", "remove the first element"),
                "xs = xs[1:]",
                lambda xs: list(xs)[1:],
            ),
            Step(
                "dedupe",
                ("remove duplicate numbers", "keep only the first copy of each number"),
                "xs = list(dict.fromkeys(xs))",
                lambda xs: list(dict.fromkeys(xs)),
            ),
            Step(
                "first_three",
                ("keep the first three elements",),
                "xs = xs[:3]",
                lambda xs: list(xs)[:3],
            ),
            Step(
                "positives",
                ("keep only the positive numbers", "remove the numbers that are not positive"),
                "xs = [v for v in xs if v > 0]",
                lambda xs: [v for v in xs if v > 0],
            ),
        ),
    ),
    Family(
        name="numbers",
        variable="n",
        noun="an integer n",
        inputs=(17, -42, 305, 8, -9),
        steps=(
            Step(
                "add_three",
                ("add three to it", "increase it by three"),
                "n = n + 3",
                lambda n: n + 3,
            ),
            Step(
                "subtract_seven",
                ("subtract seven from it", "decrease it by seven"),
                "n = n - 7",
                lambda n: n - 7,
            ),
            Step("times_two", ("multiply it by two", "double it"), "n = n * 2", lambda n: n * 2),
            Step(
                "times_three", ("multiply it by three", "triple it"), "n = n * 3", lambda n: n * 3
            ),
            Step("square", ("square it", "multiply it by itself"), "n = n * n", lambda n: n * n),
            Step("negate", ("negate it", "flip its sign"), "n = -n", lambda n: -n),
            Step("absolute", ("take its absolute value",), "n = abs(n)", abs),
            Step(
                "halve",
                ("divide it by two, rounding down", "halve it, rounding down"),
                "n = n // 2",
                lambda n: n // 2,
            ),
            Step("last_digit", ("keep its last digit",), "n = n % 10", lambda n: n % 10),
            Step(
                "digit_sum",
                ("replace it by the sum of its digits",),
                "n = sum(int(d) for d in str(abs(n)))",
                _digit_sum,
            ),
            Step(
                "reverse_digits",
                ("reverse its digits",),
                "n = int(str(abs(n))[::-1])",
                _reverse_digits,
            ),
            Step("cap", ("cap it at one hundred",), "n = min(n, 100)", lambda n: min(n, 100)),
        ),
    ),
    # The judging-only family: the experts learn to judge on it, and nothing else uses it (no
    # battled instruction, no benchmark task). Its steps and its inputs (lists of words) are its
    # own, so no composition of it behaves like one of the arena's families.
    Family(
        name="words",
        variable="ws",
        noun="a list of words ws",
        inputs=(
            ("apple", "kiwi", "fig", "banana", "egg"),
            ("sun", "moon", "star"),
            ("Echo", "alpha", "Echo", "zed", "ice"),
            ("a", "bb", "ccc", "dddd"),
            ("orange", "ox", "tree", "umbrella"),
        ),
        steps=(
            Step(
                "long_words",
                ("keep only the words longer than three letters", "drop the short words"),
                "ws = [w for w in ws if len(w) > 3]",
                lambda ws: [w for w in ws if len(w) > 3],
            ),
            Step(
                "short_words",
                ("keep only the words of at most three letters", "drop the long words"),
                "ws = [w for w in ws if len(w) <= 3]",
                lambda ws: [w for w in ws if len(w) <= 3],
            ),
            Step(
                "alphabetical",
                ("sort the words alphabetically", "put the words in dictionary order"),
                "ws = sorted(ws)",
                sorted,
            ),
            Step(
                "by_length",
                ("sort the words by length", "order the words from shortest to longest"),
                "ws = sorted(ws, key=len)",
                lambda ws: sorted(ws, key=len),
            ),
            Step(
                "capitals",
                ("write each word in capitals", "turn each word into capitals"),
                "ws = [w.upper() for w in ws]",
                lambda ws: [w.upper() for w in ws],
            ),
            Step(
                "backwards",
                ("spell each word backwards", "write every word backwards"),
                "ws = [w[::-1] for w in ws]",
                lambda ws: [w[::-1] for w in ws],
            ),
            Step(
                "initials",
                ("keep only the first letter of each word", "shorten each word to its initial"),
                "ws = [w[:1] for w in ws]",
                lambda ws: [w[:1] for w in ws],
            ),
            Step(
                "plural",
                ("add an s to each word", "put an s after every word"),
                'ws = [w + "s" for w in ws]',
                lambda ws: [w + "s" for w in ws],
            ),
            Step(
                "drop_last_word",
                ("drop the last word", "remove the final word"),
                "ws = ws[:-1]",
                lambda ws: list(ws)[:-1],
            ),
            Step(
                "vowel_start",
                ("keep only the words that start with a vowel",),
                'ws = [w for w in ws if w[:1].lower() in "aeiou"]',
                lambda ws: [w for w in ws if w[:1].lower() in _VOWELS],
            ),
            Step(
                "bracketed",
                ("put brackets around each word", "wrap every word in brackets"),
                'ws = ["[" + w + "]" for w in ws]',
                lambda ws: ["[" + w + "]" for w in ws],
            ),
            Step(
                "twice",
                ("write each word twice", "repeat every word twice in place"),
                "ws = [w + w for w in ws]",
                lambda ws: [w + w for w in ws],
            ),
        ),
    ),
)
FAMILY_BY_NAME = {family.name: family for family in FAMILIES}
# The arena's families: what the experts mine and battle on and what the benchmark holds.
ARENA_FAMILIES: tuple[str, ...] = ("text", "lists", "numbers")
# Families only the judging phase uses (wc_demo.judging_phase): the judges never learn to judge on
# an arena family, and instructions of these families are kept out of the arena
# (`reserved_reason`, the plugin's `World.reserved_reason`: mining.reserved_worlds).
JUDGING_FAMILIES: tuple[str, ...] = ("words",)

# How an instruction frames its steps; {noun}, {steps} and {fn} are filled in.
INSTRUCTION_TEMPLATES: tuple[str, ...] = (
    "Write a Python function {fn} that takes {noun}. {steps}. Return the result.",
    "Implement {fn} for {noun}: {steps}, and return the result.",
    "Given {noun}, write {fn} to {steps}. Return what you get.",
)
_JOINERS = (", then ", ", then ", ", after that ")


@dataclass(frozen=True)
class Task:
    """One composition of steps of one family, phrased one way."""

    family: str
    steps: tuple[str, ...]
    phrases: tuple[str, ...]  # the words chosen for each step
    instruction: str

    @property
    def key(self) -> str:
        return composition_key(self.family, self.steps)

    @property
    def response(self) -> str:
        """The world's own answer, its comments in the instruction's words."""
        return reference_response(self.family, self.steps, self.phrases)


def composition_key(family: str, steps: tuple[str, ...]) -> str:
    return f"{family}:{'+'.join(steps)}"


def behaviour(family: str, steps: tuple[str, ...]) -> tuple[str, ...]:
    """A composition's hidden-test signature: its outputs on the family's fixed inputs.

    Compositions with the same signature are one task to the hidden tests (commuting or absorbing
    steps: `first_five+upper+lower` behaves as `first_five+lower`)."""
    return tuple(
        repr(run_reference(family, steps, value)) for value in FAMILY_BY_NAME[family].inputs
    )


def is_heldout(family: str, steps: tuple[str, ...]) -> bool:
    """Whether a composition belongs to the benchmark (never in any expert's training data).

    Held out by behaviour, not by key: a seeded tenth of each arena family's hidden-test
    signatures, with every composition that has one, so no composition that mining, judging or
    SFT can see behaves like a benchmark task. Judging-only families hold nothing out."""
    if family not in ARENA_FAMILIES:
        return False
    return behaviour(family, steps) in _heldout_signatures(family)


def heldout_signatures(family: str) -> frozenset[tuple[str, ...]]:
    """The held-out behaviours of a family: the benchmark's hidden-test signatures (none for a
    judging-only family)."""
    return _heldout_signatures(family) if family in ARENA_FAMILIES else frozenset()


@cache
def _heldout_signatures(family: str) -> frozenset[tuple[str, ...]]:
    signatures = {behaviour(family, steps) for steps in compositions(FAMILY_BY_NAME[family])}
    return frozenset(sig for sig in signatures if _fraction(family, sig) < HELDOUT_FRACTION)


def _fraction(family: str, signature: tuple[str, ...]) -> float:
    digest = hashlib.sha256("|".join((family, *signature)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def reserved_reason(instruction: str) -> str | None:
    """Why the arena must not use an instruction: it asks for a judging-only family's task.

    Also when the text only names such a family's input or function (`a list of words ws`,
    `solve(ws)`) without parsing as one of its tasks: a garbled mined attempt at a judging task
    is still the judges' ground, and it would get no hidden tests either."""
    parsed = parse_instruction(instruction)
    if parsed is not None and parsed[0] in JUDGING_FAMILIES:
        return f"judging-only family {parsed[0]!r} (the judges' training data)"
    if isinstance(instruction, str):
        for name in JUDGING_FAMILIES:
            family = FAMILY_BY_NAME[name]
            if family.noun in instruction or f"{ENTRY_POINT}({family.variable})" in instruction:
                return f"names the judging-only family {name!r} (the judges' training data)"
    return None


def _step(family: Family, name: str) -> Step:
    for step in family.steps:
        if step.name == name:
            return step
    raise InputError(f"family {family.name!r} has no step {name!r}")


def compositions(family: Family) -> Iterator[tuple[str, ...]]:
    """Every sequence of MIN_STEPS..MAX_STEPS steps without the same step twice in a row."""
    names = [s.name for s in family.steps]
    for length in range(MIN_STEPS, MAX_STEPS + 1):
        for combo in product(names, repeat=length):
            if all(a != b for a, b in pairwise(combo)):
                yield combo


def make_task(family_name: str, steps: tuple[str, ...], rng: random.Random) -> Task:
    """The task in English: a template, one phrase per step, joined in order."""
    family = FAMILY_BY_NAME[family_name]
    phrases = tuple(rng.choice(_step(family, name).phrases) for name in steps)
    joiner = rng.choice(_JOINERS)
    text = joiner.join(phrases)
    template = rng.choice(INSTRUCTION_TEMPLATES)
    if template.startswith("Write"):  # the steps open a sentence there
        text = text[0].upper() + text[1:]
    instruction = template.format(
        fn=f"{ENTRY_POINT}({family.variable})", noun=family.noun, steps=text
    )
    return Task(family_name, steps, phrases, instruction)


def reference_code(
    family_name: str, steps: tuple[str, ...], phrases: tuple[str, ...] | None = None
) -> str:
    """The world's program for a composition: per step, a comment naming it, then its line.

    The comment repeats the instruction's own phrase for the step (``phrases``; the step's first
    phrase by default), so a reader can check each line against what was asked."""
    family = FAMILY_BY_NAME[family_name]
    said = phrases or tuple(_step(family, name).phrases[0] for name in steps)
    body = [
        line
        for name, phrase in zip(steps, said, strict=True)
        for line in (f"    # {phrase}", f"    {_step(family, name).line}")
    ]
    return "\n".join(
        [f"def {ENTRY_POINT}({family.variable}):", *body, f"    return {family.variable}"]
    )


def reference_response(
    family_name: str, steps: tuple[str, ...], phrases: tuple[str, ...] | None = None
) -> str:
    """What a perfect expert replies: the program in one fenced python block."""
    return f"```python\n{reference_code(family_name, steps, phrases)}\n```"


def run_reference(family_name: str, steps: tuple[str, ...], value: Any) -> Any:
    family = FAMILY_BY_NAME[family_name]
    result = list(value) if isinstance(value, tuple) else value
    for name in steps:
        result = _step(family, name).apply(result)
    return result


def wrong_answer(task: Task, rng: random.Random) -> str | None:
    """A plausible wrong answer to ``task``, or None when the one drawn still passes its tests.

    The mistakes of a writer who half knows the family, in the shares measured on the demo
    experts' answers outside their own family: another step altogether (its comment and code),
    the asked step's comment over another step's code, a dropped, repeated or swapped step, or a
    line garbled into code that does not run."""
    family = FAMILY_BY_NAME[task.family]
    names = [step.name for step in family.steps]
    steps, phrases = list(task.steps), list(task.phrases)
    index = rng.randrange(len(steps))
    kind = rng.random()
    if kind < 0.55:  # another step; half the time under the asked step's comment
        steps[index] = rng.choice([n for n in names if n != steps[index]])
        if kind < 0.35:
            phrases[index] = rng.choice(_step(family, steps[index]).phrases)
    elif kind < 0.65 and len(steps) > MIN_STEPS:
        del steps[index], phrases[index]
    elif kind < 0.75:
        steps.insert(index, steps[index])
        phrases.insert(index, phrases[index])
    elif kind < 0.85:
        steps.reverse()
        phrases.reverse()
    else:
        return _garbled(task, rng)
    if test_asserts(task.family, tuple(steps)) == test_asserts(task.family, task.steps):
        return None
    return reference_response(task.family, tuple(steps), tuple(phrases))


def _garbled(task: Task, rng: random.Random) -> str:
    """The task's answer with one code line cut short: it no longer parses."""
    lines = reference_code(task.family, task.steps, task.phrases).splitlines()
    code_lines = [
        i for i, line in enumerate(lines) if "=" in line and not line.strip().startswith("#")
    ]
    i = rng.choice(code_lines)
    words = lines[i].split()
    lines[i] = "    " + " ".join(words[: max(3, len(words) - rng.randint(1, 3))]) + "]"
    return "```python\n" + "\n".join(lines) + "\n```"


def test_asserts(family_name: str, steps: tuple[str, ...]) -> list[str]:
    """The hidden tests: one ``assert solve(input) == output`` per fixed input of the family."""
    family = FAMILY_BY_NAME[family_name]
    lines = []
    for value in family.inputs:
        argument = list(value) if isinstance(value, tuple) else value
        expected = run_reference(family_name, steps, value)
        lines.append(f"assert {ENTRY_POINT}({argument!r}) == {expected!r}")
    return lines


@cache
def _phrase_table() -> dict[str, tuple[tuple[str, str], ...]]:
    """Per family: (phrase, step name), longest phrase first (so no phrase shadows a longer one)."""
    table = {}
    for family in FAMILIES:
        pairs = [(phrase, step.name) for step in family.steps for phrase in step.phrases]
        table[family.name] = tuple(sorted(pairs, key=lambda p: -len(p[0])))
    return table


_TEMPLATE_PATTERNS = tuple(
    re.compile(
        "^"
        + re.escape(t)
        .replace(re.escape("{fn}"), r"(?P<fn>\w+\(\w+\))")
        .replace(re.escape("{noun}"), r"(?P<noun>[^.:,]+?)")
        .replace(re.escape("{steps}"), r"(?P<steps>.+?)")
        + "$"
    )
    for t in INSTRUCTION_TEMPLATES
)


def parse_instruction(text: str) -> tuple[str, tuple[str, ...]] | None:
    """(family, steps) of an instruction in the world's phrasing; None for anything else.

    Strict on purpose: the whole text must be one template, the noun one family's, and the steps
    that family's phrases joined by the world's joiners, so garbled mined text gets no tests.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    for pattern in _TEMPLATE_PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        family = next((f for f in FAMILIES if f.noun == match["noun"]), None)
        if family is None or match["fn"] != f"{ENTRY_POINT}({family.variable})":
            return None
        steps = _parse_steps(family.name, match["steps"])
        if steps is None or not MIN_STEPS <= len(steps) <= MAX_STEPS:
            return None
        return family.name, steps
    return None


def _parse_steps(family_name: str, text: str) -> tuple[str, ...] | None:
    parts = re.split(r", then |, after that ", text)
    steps = []
    for part in parts:
        part = part.strip()
        part = part[0].lower() + part[1:] if part else part
        name = next((n for phrase, n in _phrase_table()[family_name] if phrase == part), None)
        if name is None:
            return None
        steps.append(name)
    return tuple(steps)


def world_tests(instruction: str) -> list[str]:
    """Hidden tests for an instruction the world can read (empty when it cannot)."""
    parsed = parse_instruction(instruction)
    return test_asserts(*parsed) if parsed else []


def benchmark_task_id(instruction: str) -> str | None:
    """The benchmark's task_id when an instruction asks for a held-out composition, else None."""
    parsed = parse_instruction(instruction)
    return f"world/{composition_key(*parsed)}" if parsed and is_heldout(*parsed) else None


def is_benchmark_instruction(instruction: str) -> bool:
    """Whether an instruction (mined ones too) asks for a held-out composition."""
    parsed = parse_instruction(instruction)
    return parsed is not None and is_heldout(*parsed)


def all_tasks(seed: int = 0) -> list[Task]:
    """Every composition once, phrased with a seeded choice of template and phrases."""
    rng = random.Random(seed)
    tasks = []
    for family in FAMILIES:
        for steps in compositions(family):
            tasks.append(make_task(family.name, steps, rng))
    return tasks


def training_tasks(seed: int = 0) -> list[Task]:
    return [t for t in all_tasks(seed) if not is_heldout(t.family, t.steps)]


def example_frame(seed: int = 0) -> pl.DataFrame:
    """Training tasks as a frame (example_id, family, instruction, response), for benchmarks."""
    import polars as pl

    tasks = training_tasks(seed)
    return pl.DataFrame(
        {
            "example_id": [t.key for t in tasks],
            "family": [t.family for t in tasks],
            "instruction": [t.instruction for t in tasks],
            "response": [t.response for t in tasks],
        }
    )


def sft_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """SFT rows {"instruction_id", "messages"} (one user turn, one assistant turn)."""
    from gpu_ops.sft_data.sft_export import to_chat_messages

    return [
        {
            "instruction_id": row["example_id"],
            "messages": to_chat_messages(row["instruction"], row["response"]),
        }
        for row in frame.iter_rows(named=True)
    ]


def benchmark_problems(n_tasks: int = 60, seed: int = 1234) -> list[dict[str, Any]]:
    """HumanEval-shaped records for held-out compositions, balanced across families.

    The record's `instruction` is asked as is (instruction-style suite); `prompt` is empty, so
    the reply's code is the whole program.
    """
    rng = random.Random(seed)
    problems = []
    per_family = -(-n_tasks // len(ARENA_FAMILIES))
    for family in (FAMILY_BY_NAME[name] for name in ARENA_FAMILIES):
        # one composition per held-out behaviour: two tasks with one signature are one task
        by_behaviour: dict[tuple[str, ...], tuple[str, ...]] = {}
        for steps in compositions(family):
            if is_heldout(family.name, steps):
                by_behaviour.setdefault(behaviour(family.name, steps), steps)
        heldout = list(by_behaviour.values())
        rng.shuffle(heldout)
        for steps in heldout[:per_family]:
            task = make_task(family.name, steps, rng)
            asserts = test_asserts(family.name, steps)
            test = "def check(candidate):\n" + "\n".join(
                "    " + line.replace(f"assert {ENTRY_POINT}(", "assert candidate(", 1)
                for line in asserts
            )
            problems.append(
                {
                    "task_id": f"world/{composition_key(family.name, steps)}",  # benchmark_task_id
                    "instruction": task.instruction,
                    "prompt": "",
                    "canonical_solution": reference_code(family.name, steps, task.phrases) + "\n",
                    "test": test + "\n",
                    "entry_point": ENTRY_POINT,
                    "family": family.name,
                }
            )
    return problems[:n_tasks] if len(problems) > n_tasks else problems
