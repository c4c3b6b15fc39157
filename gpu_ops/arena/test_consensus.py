"""How much each test may weigh in a response's execution score (issue 24: tests earn their weight).

Without hidden tests, a response is scored on the instruction's examples and on the tests the
other competitors wrote. Counting every peer test alike (``uniform``) lets one competitor's wrong
tests drag a correct answer down, and lets two copies of one wrong model outvote a correct third.
``consensus`` weighting follows CodeT's dual execution agreement (Chen et al., 2022, "CodeT:
Code Generation with Generated Tests", arXiv:2207.10397): answers and tests that agree form
consensus sets, and agreement by more independent answers is stronger evidence. Here:

* **Sources.** Competitors whose answers agree on every shared probe on at least
  ``SOURCE_AGREEMENT`` of the instructions they both answered count as one source: two
  checkpoints of one model answer alike everywhere, two independent models part ways wherever one
  of them is wrong (agreement measured from behaviour, since weights fingerprints are out of
  reach for served endpoints). On a single instruction this means "answers alike on every
  shared probe".
* **Anchor.** The instruction's examples (and hidden tests) always weigh 1. An answer that fails
  one of them is known to be wrong and backs no peer test.
* **Consensus set of a peer test.** The sources that back it: a source backs a test when one of
  its answers that is not known wrong passes it, or states it without being asked (a response is
  never run on its own tests). The test weighs ``(backers - 1) / (sources - 1)``: 0 when only its
  author's source backs it, 1 when every source does. So a test only its author passes earns no
  weight, and a peer test lowers a score only as far as independent sources support it.
* **Minimum consensus.** With fewer than ``min_sources`` sources (default 3) on an instruction,
  no consensus is possible beyond one author and one judge, and peer tests weigh 0: the examples
  alone decide.

Everything here is pure: it reads pass/fail results and probe outcomes computed in the sandbox.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

SOURCE_AGREEMENT = 0.95  # share of common instructions answered alike that makes one source
DEFAULT_MIN_SOURCES = 3  # fewer independent sources on an instruction: examples alone count
WEIGHTINGS = ("uniform", "consensus")
Key = Hashable  # a test's identity (``test_cases.case_key``)
Outcome = tuple[str, object]  # ("value", plain data) or ("error", exception type name)


@dataclass(frozen=True)
class Evidence:
    """What one competitor showed on one instruction.

    ``stated``: the tests its own response states; ``results``: pass/fail of each test it was
    asked (never its own); ``outcomes``: its answer to each probe it was asked, by probe id."""

    competitor: str
    stated: frozenset = frozenset()
    results: Mapping[Key, bool] = field(default_factory=dict)
    outcomes: Mapping[str, Outcome] = field(default_factory=dict)


def _same(a: Outcome, b: Outcome) -> bool:
    try:
        return a[0] == b[0] and bool(a[1] == b[1])
    except Exception:  # plain data compares safely; anything odd counts as a difference
        return False


def answered_alike(a: Evidence, b: Evidence) -> bool | None:
    """Whether two competitors answered every probe both were asked alike (None: no probe in
    common, so no evidence either way)."""
    shared = a.outcomes.keys() & b.outcomes.keys()
    if not shared:
        return None
    return all(_same(a.outcomes[p], b.outcomes[p]) for p in shared)


def behaviour_agreement(groups: Iterable[Sequence[Evidence]]) -> dict[tuple[str, str], float]:
    """For each pair of competitors (sorted names): the share of the instructions with probes in
    common on which they answered alike."""
    alike: dict[tuple[str, str], list[int]] = {}
    for group in groups:
        for a, b in combinations(sorted(group, key=lambda e: e.competitor), 2):
            if a.competitor == b.competitor:
                continue
            same = answered_alike(a, b)
            if same is not None:
                counts = alike.setdefault((a.competitor, b.competitor), [0, 0])
                counts[0] += same
                counts[1] += 1
    return {pair: hits / total for pair, (hits, total) in alike.items()}


def sources(
    groups: Iterable[Sequence[Evidence]], threshold: float = SOURCE_AGREEMENT
) -> dict[str, str]:
    """Each competitor's source: the alphabetically first competitor of its group of look-alikes
    (agreement at or above ``threshold``, taken transitively)."""
    groups = list(groups)
    parent = {e.competitor: e.competitor for group in groups for e in group}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for (a, b), agreement in behaviour_agreement(groups).items():
        if agreement >= threshold:
            ra, rb = root(a), root(b)
            parent[max(ra, rb)] = min(ra, rb)
    return {name: root(name) for name in parent}


def known_wrong(evidence: Evidence, anchors: frozenset) -> bool:
    """An answer that fails one of the instruction's own examples (one without a result, such as
    an example no verdict could be reached on, is no evidence either way)."""
    return any(evidence.results.get(key) is False for key in anchors)


def test_weights(
    anchors: Iterable[Key],
    group: Sequence[Evidence],
    source_of: Mapping[str, str] | None = None,
    min_sources: int = DEFAULT_MIN_SOURCES,
) -> dict[Key, float]:
    """The weight of every test asked on one instruction: anchors 1, peer tests their consensus
    share (see the module docstring). ``source_of`` maps competitors to sources (default: each
    its own)."""
    anchors = frozenset(anchors)
    source_of = source_of or {}
    source = {e.competitor: source_of.get(e.competitor, e.competitor) for e in group}
    every_source = set(source.values())
    peer_tests = {key for e in group for key in (*e.stated, *e.results)} - anchors
    weights: dict[Key, float] = dict.fromkeys(anchors, 1.0)
    if len(every_source) < max(min_sources, 2):
        weights.update(dict.fromkeys(peer_tests, 0.0))
        return weights
    voters = [e for e in group if not known_wrong(e, anchors)]
    for key in peer_tests:
        backers = {
            source[e.competitor]
            for e in voters
            if e.results.get(key, key in e.stated)  # a response never runs its own tests
        }
        weights[key] = max(len(backers) - 1, 0) / (len(every_source) - 1)
    return weights


def weighted_fraction(
    results: Mapping[Key, bool], weights: Mapping[Key, float]
) -> tuple[float, int, int]:
    """(weighted share of passed tests, tests with weight, of those passed) for one response;
    the share is 0.0 when no test it was asked has weight."""
    counted = [key for key in results if weights.get(key, 0.0) > 0]
    total = sum(weights[key] for key in counted)
    passed = [key for key in counted if results[key]]
    share = sum(weights[key] for key in passed) / total if total else 0.0
    return share, len(counted), len(passed)


@dataclass(frozen=True)
class Group:
    """One instruction's competitors (name, response), sorted by name; ``scored``: the positions
    of those to score."""

    instruction: str
    competitors: list[tuple[str, str]]
    scored: list[int]


def instruction_groups(
    rows: Sequence[tuple[str, str, str, str]], peers: Iterable[tuple[str, str, str]]
) -> tuple[list[Group], list[tuple[int, int]]]:
    """Rows (instruction_id, expert, instruction, response) to score and every competitor's
    (instruction_id, expert, response): one group per instruction of the rows, with every
    competitor of it (a row's own response for its expert), and each row's (group, position)."""
    order = list(dict.fromkeys(iid for iid, _, _, _ in rows))
    text: dict[str, str] = {}
    competitors: dict[str, dict[str, str]] = {iid: {} for iid in order}
    for iid, expert, response in peers:
        if iid in competitors:
            competitors[iid][expert] = response or ""
    for iid, expert, instruction, response in rows:
        text.setdefault(iid, instruction or "")
        competitors[iid][expert] = response or ""
    group_of = {iid: n for n, iid in enumerate(order)}
    position = {iid: {name: k for k, name in enumerate(sorted(competitors[iid]))} for iid in order}
    where = [(group_of[iid], position[iid][expert]) for iid, expert, _, _ in rows]
    scored: list[set[int]] = [set() for _ in order]
    for g, k in where:
        scored[g].add(k)
    groups = [
        Group(
            text[iid], [(name, competitors[iid][name]) for name in position[iid]], sorted(scored[n])
        )
        for n, iid in enumerate(order)
    ]
    return groups, where


test_weights.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
