"""Real disk faults under the lake writer: a full file system and a read-only one.

Each case runs in a child process inside its own mount namespace (`unshare`, as the sandbox
does), where a tiny tmpfs is mounted as WC_HOME: the kernel itself answers ENOSPC or EROFS.
Skipped where the machine forbids namespaces (the simulated-error tests in test_storage.py
still run there).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import json, os, sys
import numpy as np
import polars as pl
from wc_foundation.storage import Home, StorageError, read_lake_table, write_lake_table

home = Home(root=__import__("pathlib").Path(sys.argv[1]))


def frame(ranks):
    return pl.DataFrame({"instruction_id": None, "selection_rank": ranks, "coverage_radius": None,
                         "embedding_model": None}, schema_overrides={"instruction_id": pl.String,
                         "coverage_radius": pl.Float64, "embedding_model": pl.String})

outcome = {}
if sys.argv[2] == "full":
    home.ensure()
    write_lake_table(home, "instructions_selected", frame([1, 2, 3]))
    noise = np.random.default_rng(0).integers(0, 2**62, size=200_000)  # ~1.6 MB, incompressible
    try:
        write_lake_table(home, "instructions_selected", frame(noise))
        outcome["error"] = None
    except StorageError as error:
        outcome["error"] = str(error)
    outcome["rows"] = read_lake_table(home, "instructions_selected")["selection_rank"].to_list()
    outcome["files"] = sorted(os.listdir(home.table_dir("instructions_selected")))
else:
    try:
        home.ensure()
        write_lake_table(home, "instructions_selected", frame([1]))
        outcome["error"] = None
    except StorageError as error:
        outcome["error"] = str(error)
print(json.dumps(outcome))
"""


def namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not namespaces_work(), reason="no user/mount namespaces here")


def run_on_tmpfs(tmp_path: Path, case: str, options: str) -> dict:
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    home = mount_point / "home" if case == "full" else mount_point
    shell = (
        f"mount -t tmpfs -o {options} tmpfs {mount_point} && "
        f"{sys.executable} {script} {home} {case}"
    )
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_full_disk_keeps_the_previous_file_and_no_partial_one(tmp_path):
    outcome = run_on_tmpfs(tmp_path, "full", "size=512k")
    assert outcome["error"] is not None and "No space left on device" in outcome["error"]
    assert "lake table 'instructions_selected'" in outcome["error"]
    assert outcome["rows"] == [1, 2, 3]  # the earlier version is still what readers see
    assert outcome["files"] == ["all.parquet"]  # the half-written temp file was removed


def test_read_only_home_is_a_clear_error(tmp_path):
    outcome = run_on_tmpfs(tmp_path, "readonly", "ro,size=64k")
    assert outcome["error"] is not None
    assert "Read-only file system" in outcome["error"], outcome["error"]
