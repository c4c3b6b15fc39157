"""tests/suite_order.py: the longest test files are queued first for `make test`'s workers."""

from pathlib import Path

from tests.suite_order import LONGEST_FILES, file_order

REPO = Path(__file__).resolve().parents[1]


def test_every_listed_file_exists() -> None:
    missing = [name for name in LONGEST_FILES if not (REPO / name).is_file()]
    assert not missing, f"renamed or removed: update tests/suite_order.py ({missing})"
    assert len(set(LONGEST_FILES)) == len(LONGEST_FILES)


def test_the_longest_first_then_most_tests_then_collection_order() -> None:
    nodeids = [
        "tests/a.py::t1",
        "tests/b.py::t1",
        "tests/b.py::t2",
        "tests/c.py::t1",
        LONGEST_FILES[1] + "::t",
        LONGEST_FILES[0] + "::t",
    ]
    order = sorted(file_order(nodeids), key=file_order(nodeids).get)
    assert order == [LONGEST_FILES[0], LONGEST_FILES[1], "tests/b.py", "tests/a.py", "tests/c.py"]
