"""The dbt project's own files: what the parse stamp and the step versions digest.

Other processes (pytest workers, a CLI run, `dagster dev`) build into target/.build-* and delete
those folders while a digest walks the project; a recursive glob that lists a folder just
deleted raised FileNotFoundError out of a build in CI.
"""

import shutil
import tempfile
import threading
from pathlib import Path

from dagster_wc.dbt.assets import project_files_digest, project_source_files


def small_project(root: Path) -> Path:
    (root / "models" / "analytics").mkdir(parents=True)
    (root / "models" / "analytics" / "wins.sql").write_text("select 1 as wins\n")
    (root / "macros").mkdir()
    (root / "macros" / "m.sql").write_text("{% macro m() %}1{% endmacro %}\n")
    (root / "dbt_project.yml").write_text("name: p\n")
    for output in ("target", "logs", "dbt_packages"):
        (root / output).mkdir()
        (root / output / "written.json").write_text("{}")
    return root


def test_the_sources_leave_out_what_dbt_writes(tmp_path):
    project = small_project(tmp_path)
    relative = [p.relative_to(project).as_posix() for p in project_source_files(project)]
    assert relative == ["dbt_project.yml", "macros/m.sql", "models/analytics/wins.sql"]

    before = project_files_digest(project)
    (project / "target" / "manifest.json").write_text("{}")
    assert project_files_digest(project) == before  # an output: the same digest
    (project / "models" / "analytics" / "wins.sql").write_text("select 2 as wins\n")
    assert project_files_digest(project) != before  # a model edited: another digest


def test_builds_coming_and_going_in_target_never_break_the_walk(tmp_path):
    project = small_project(tmp_path)
    expected = project_source_files(project)
    stop = threading.Event()

    def build_and_clean_up() -> None:
        """What another process's dbt build does to target/, as fast as it can."""
        while not stop.is_set():
            build = Path(tempfile.mkdtemp(dir=project / "target", prefix=".build-"))
            (build / "compiled" / "warriorcoder" / "models" / "analytics").mkdir(parents=True)
            shutil.rmtree(build)

    builder = threading.Thread(target=build_and_clean_up)
    builder.start()
    try:
        listings = [project_source_files(project) for _ in range(300)]
    finally:
        stop.set()
        builder.join()
    assert all(listing == expected for listing in listings)
