"""Run the dbt project against a lake in a subprocess, as the pipeline does (test helper).

Why a subprocess: dbt keeps process-wide state (flags, logging, adapters); running it apart keeps
the test process clean and passes WC_HOME / WC_WAREHOUSE_PATH exactly like the dbt resource.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dagster_wc.dbt.assets import dbt_subprocess
from tests.fixtures.lake_fixture import write_lake

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_dbt(
    args: list[str], *, wc_home: Path, warehouse: Path, work_dir: Path
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` on the project; raise with dbt's output when it fails."""
    command, env = dbt_subprocess(
        args,
        home_root=wc_home,
        warehouse=warehouse,
        target_dir=work_dir / "target",
        log_dir=work_dir / "logs",
    )
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-8000:]}{result.stderr}"
        )
    return result


def build_fixture_warehouse(root: Path) -> Path:
    """Write the fixture lake under root/home and `dbt build` it once; return the warehouse path.

    Data tests run as part of the build; unit tests are run separately by the dbt tests (they
    need no lake). A marker file makes later calls with the same root reuse the warehouse.
    """
    wc_home = root / "home"
    warehouse = wc_home / "warehouse.duckdb"
    marker = root / "built.ok"
    if not marker.exists():
        write_lake(wc_home)
        run_dbt(
            ["build", "--exclude", "test_type:unit"],
            wc_home=wc_home,
            warehouse=warehouse,
            work_dir=root,
        )
        marker.write_text("ok\n")
    return warehouse
