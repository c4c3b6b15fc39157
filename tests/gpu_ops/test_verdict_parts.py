"""The trusted side of verdicts: plain-data codec, test splitting, the referee (a sandbox run
without the code under test), strict answer parsing and run-folder cleanup."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from gpu_ops.arena.test_cases import cases_from_assert, test_cases
from gpu_ops.errors import InputError
from gpu_ops.sandbox.cleanup import remove_tree
from gpu_ops.sandbox.plain_codec import PlainDataError, dumps, loads, same
from gpu_ops.sandbox.probes import Answers, Probe, ask_many, parse_answers
from gpu_ops.sandbox.referee import decide


def test_plain_values_round_trip_with_exact_types() -> None:
    value = {
        "a": [1, 2.5, None, True, "x"],
        (1, "t"): frozenset({1, 2}),
        "big": 2**80,
        "nan": [float("nan"), float("inf"), -0.0],
        "b": b"\x00\xff",
        "s": {3, 4},
    }
    back = loads(dumps(value))
    assert back.keys() == value.keys()
    assert type(back[(1, "t")]) is frozenset and back["big"] == 2**80 and back["b"] == b"\x00\xff"
    assert math.isnan(back["nan"][0]) and back["nan"][1] == math.inf
    assert type(loads(dumps((1, 2)))) is tuple and type(loads(dumps([1, 2]))) is list


@pytest.mark.parametrize(
    "text",
    [
        "1.5",  # bare float: floats travel tagged
        "NaN",
        '{"$": "eval", "v": "1"}',
        '{"x": 1}',
        '{"$": "int", "v": "' + "9" * 5000 + '"}',
        "[" * 5000 + "]" * 5000,
        '{"$": "set", "v": [[1]]}',  # unhashable set item
        "not json",
    ],
)
def test_malformed_encodings_are_refused(text: str) -> None:
    with pytest.raises(PlainDataError):
        loads(text)


def test_objects_that_are_not_plain_data_cannot_be_encoded() -> None:
    class Sneaky(int):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = int.__hash__

    for value in (Sneaky(1), object(), [1, Sneaky(2)], {"k": print}):
        with pytest.raises(PlainDataError):
            dumps(value)


def test_answers_compare_as_python_would_after_the_trip() -> None:
    import collections
    import enum

    from gpu_ops.sandbox.plain_codec import decode, encode_answer

    def trip(value: object) -> object:
        return decode(encode_answer(value))

    point = collections.namedtuple("Point", "x y")(1, 2)
    assert trip(point) == (1, 2) and type(trip(point)) is tuple
    assert trip(enum.IntEnum("E", "A").A) == 1 and type(trip(enum.IntEnum("E", "A").A)) is int
    counts = collections.Counter("aab")
    assert trip(counts) == {"a": 2, "b": 1} and type(trip(counts)) is dict
    keys = trip({"b": 1, "a": 2}.keys())
    assert keys == {"a", "b"} and list(keys) == ["b", "a"] and keys != ["b", "a"]
    assert list(trip(x * 2 for x in range(3))) == [0, 2, 4]
    assert trip(map(str, [1])) != ["1"]  # an iterator, as in Python
    assert trip(range(1, 9, 3)) == range(1, 9, 3)
    assert sorted(trip({1: "x"}.items())) == [(1, "x")]

    class Rigged(int):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = int.__hash__

    with pytest.raises(PlainDataError, match="its own __eq__"):
        encode_answer(Rigged(1))


def test_predicates_and_comprehensions_split_apart_from_the_code() -> None:
    case = cases_from_assert("assert f(x=1).strip().startswith('a')")
    assert case is not None and case.condition == "_wc_probe_0"
    assert [(p.expression, p.steps) for p in case.probes] == [
        ("f(x=1)", ("_wc_v.strip", "_wc_v()", "_wc_v.startswith", "_wc_v('a')"))
    ]
    case = cases_from_assert("assert f(2) == 'abc'.upper() and len(g(1)) == 2")
    assert case.condition == "_wc_probe_0 == 'abc'.upper() and len(_wc_probe_1) == 2"
    # the filter without code stays in both iterations; the one with code moves after the take
    case = cases_from_assert("assert [f(v) for v in range(3) if v if g(v)] == [1]")
    assert case is not None and case.probes[0].rows
    assert case.probes[0].expression == (
        "[(_wc_cut(g(v), ()), _wc_cut(f(v), ())) for v in range(3) if v]"
    )
    assert case.condition == (
        "[_wc_row_0[1] for v in range(3) if v for _wc_row_0 in [_wc_next(_wc_probe_0)] "
        "if _wc_row_0[0]] == [1]"
    )
    assert cases_from_assert("assert list(map(lambda v: f(v), [1])) == [1]") is None
    assert cases_from_assert("assert [f(y) for x in [1] for y in f(x)] == []") is None
    # scopes: a comprehension variable named like a builtin does not make the builtin usable
    peer = frozenset({"f"})
    assert cases_from_assert("assert f([print for print in [1]]) == 1", peer) is not None
    assert cases_from_assert("assert f([print for print in [1]], print) == 1", peer) is None
    assert cases_from_assert("assert f((lambda print: print)(1)) == 1", peer) is not None
    assert cases_from_assert("assert f((lambda print: 1)(1), print) == 1", peer) is None
    assert cases_from_assert("assert f([exec for exec in [1]]) == 1", peer) is None  # denied


def test_same_is_equality_on_builtins_with_float_tolerance() -> None:
    assert same(0.1 + 0.2, 0.3) and same([1, (2.0, 3)], [1, (2, 3)])
    assert not same([1, 2], (1, 2)) and not same({"a": 1}, {"a": 2}) and not same(1.0, "1.0")
    assert same(float("nan"), float("nan")) and not same(1.0, 1.01)
    # A caller's tolerance holds inside containers too (EvalPlus problems bring their own atol).
    assert same([1.0, {"k": (2.0,)}], [1.001, {"k": (2.001,)}], abs_tol=1e-2)
    assert not same([1.5e-9], [0.0], abs_tol=1e-9) and same([1.5e-9], [0.0])
    assert not same({"k": [1.0]}, {"k": [1.01]}, abs_tol=1e-3)


def test_asserts_split_into_probes_and_a_parent_side_condition() -> None:
    case = cases_from_assert("assert abs(area(2) - 12.566) < 1e-3")
    assert case is not None and [p.expression for p in case.probes] == ["area(2)"]
    assert case.passes([12.5664]) and not case.passes([3.0]) and not case.passes(["x"])
    assert cases_from_assert("assert s.pop() == 1") is None  # needs setup it does not state
    assert cases_from_assert("assert 1 == 1") is None  # asks the code nothing
    assert cases_from_assert("x = 1") is None
    doc = test_cases(">>> x = make(3)\n>>> x * 2\n6\n>>> print(name(1))\none\n")
    assert [(p.setup, p.expression) for c in doc for p in c.probes] == [
        ("x = make(3)", "x"),
        ("", "name(1)"),
    ]
    assert doc[0].passes([3]) and doc[1].passes(["one"]) and not doc[1].passes(["two"])


def _job(condition: str, **values: object) -> dict:
    from gpu_ops.sandbox.plain_codec import encode

    probes = {k: {"value": encode(v), "rest": 0, "steps": []} for k, v in values.items()}
    return {"condition": condition, "probes": probes}


def test_the_referee_decides_without_the_code_and_within_budgets() -> None:
    jobs = [
        _job("_wc_probe_0 == 3 and sorted([_wc_probe_0, 1]) == [1, 3]", _wc_probe_0=3),
        _job("_wc_probe_0 == 'abc'.upper()", _wc_probe_0="ABC"),
        _job("all(v > 0 for v in _wc_probe_0)", _wc_probe_0=[1, 2]),
        _job("_wc_probe_0 == sum(range(10 ** 10))", _wc_probe_0=0),  # C loop: CPU budget
        _job("_wc_probe_0 == 'x' * 10 ** 10", _wc_probe_0=""),  # memory budget
        _job("__import__('os').system('true') == 0", _wc_probe_0=0),  # no such builtin here
        _job("open('/etc/passwd') is None", _wc_probe_0=0),
        _job("_wc_probe_0 == 1 / 0", _wc_probe_0=0),
    ]
    assert decide(jobs) == [True, True, True, False, False, False, False, False]
    assert decide([]) == []


def test_probe_answers_are_parsed_strictly() -> None:
    from gpu_ops.sandbox import SandboxResult

    stdout = "\n".join(
        [
            '{"loaded": true}',
            '{"i": 0, "value": {"$": "tuple", "v": [1, 2]}, "rest": 0}',
            '{"i": 1, "value": {"$": "x"}}',  # undecodable: that probe's malformed answer
            '{"i": 2, "error": "ZeroDivisionError"}',
        ]
    )
    answers = parse_answers(SandboxResult("ok", 0, stdout, "", 0.1, "full"), count=3)
    assert isinstance(answers, Answers) and answers.loaded
    assert answers.values == {0: (1, 2)}
    assert answers.errors == {1: "malformed answer", 2: "ZeroDivisionError"}
    assert answers.encoded == {0: {"value": {"$": "tuple", "v": [1, 2]}, "rest": 0}}
    # A channel carrying anything else is discarded whole: a forged, duplicated, bare-float or
    # out-of-range record, garbage, or more records than probes.
    for extra in (
        '{"i": 0, "value": 1}',
        '{"i": 5, "value": 1}',
        '{"i": 1, "value": 1.5}',
        "garbage",
        '{"i": 1, "value": 1, "x": 2}\n{"i": 2, "value": 1}\n{"i": 2, "value": 1}',
    ):
        forged = parse_answers(SandboxResult("ok", 0, stdout + "\n" + extra, "", 0, "full"), 3)
        assert (forged.values, forged.errors, forged.loaded) == ({}, {}, False), extra
        assert forged.load_error == "malformed channel"
    with pytest.raises(InputError):
        ask_many([("x = 1", [Probe("f", (object(),))])])
    with pytest.raises(InputError):
        ask_many([("x = 1", [Probe("f", expression="f()")])])


def test_remove_tree_handles_depth_links_and_locked_folders(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    top = tmp_path / "run"
    top.mkdir()
    folder = os.open(top, os.O_RDONLY)
    for _ in range(600):  # 12,000 characters deep: more than PATH_MAX allows as one string
        os.mkdir("d" * 20, dir_fd=folder)
        inner = os.open("d" * 20, os.O_RDONLY, dir_fd=folder)
        os.close(folder)
        folder = inner
    os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=folder))
    os.close(folder)
    (top / "link").symlink_to(outside)
    (top / "root").symlink_to("/")
    locked = top / "locked"
    locked.mkdir()
    (locked / "f").write_text("x")
    locked.chmod(0)
    assert remove_tree(top) is True
    assert not top.exists() and outside.read_text() == "keep"
    assert remove_tree(tmp_path / "missing") is True
    assert remove_tree(outside) is True and not outside.exists()  # a file: unlinked


def test_remove_tree_reports_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    # procfs refuses every unlink, even to root: a failure the walk must report, not raise.
    assert remove_tree("/proc/self/fdinfo") is False
    assert remove_tree("/proc/self") is False  # a symlink that cannot be unlinked
    assert "could not remove sandbox run directory /proc/self" in caplog.text


def test_cgroup_layout_prefers_delegated_v2_then_v1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpu_ops.sandbox import cgroup

    monkeypatch.setattr(cgroup, "_ROOT", tmp_path)
    own = {"": "/job", "memory": "/job", "pids": "/"}
    monkeypatch.setattr(cgroup, "_own_paths", lambda: own)
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "cgroup.subtree_control").write_text("cpu")  # not delegated
    (tmp_path / "memory" / "job").mkdir(parents=True)
    (tmp_path / "memory" / "job" / "memory.limit_in_bytes").write_text("-1")
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "cgroup.procs").write_text("")
    layout = cgroup._v2_layout(own) or cgroup._v1_layout(own)
    assert layout == cgroup.CgroupLayout(1, tmp_path / "memory" / "job", tmp_path / "pids")
    group = cgroup.create_run_cgroup(layout, 64 << 20, 10)
    assert (group.memory / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (group.pids / "pids.max").read_text() == "10"
    assert group.procs_files == [
        str(group.memory / "cgroup.procs"),
        str(group.pids / "cgroup.procs"),
    ]

    (tmp_path / "job" / "cgroup.subtree_control").write_text("cpu memory pids")
    layout = cgroup._v2_layout(own)
    # cpu delegated too: each run also gets its own CPU share
    assert layout == cgroup.CgroupLayout(2, tmp_path / "job", tmp_path / "job", tmp_path / "job")
    group = cgroup.create_run_cgroup(layout, 64 << 20, 10)
    assert (group.memory / "memory.max").read_text() == str(64 << 20)
    assert (group.memory / "pids.max").read_text() == "10"
    (group.memory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cgroup.oom_killed(group) is True
