"""The dbt project as Dagster assets: every staging view, intermediate model and mart.

dbt is the only writer of the warehouse. Each dbt invocation writes a copy of the warehouse and
swaps it in (`warriorcoder.warehouse.warehouse_build`), so readers never meet a lock.
The `@dbt_assets` definition is built lazily (inside a cached function) so importing this module
never parses dbt; `prepare_manifest()` builds the manifest for tests and the CLI.
"""

import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from packaging import version

from dagster_wc.dbt_metadata import with_build_metadata
from dagster_wc.pipeline import dbt_check_parents
from dagster_wc.resources import ArenaResource
from warriorcoder.config import ArenaConfig
from warriorcoder.storage import Home
from warriorcoder.warehouse import warehouse_build

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def stage_of_model(dbt_resource_props: Mapping[str, Any]) -> str:
    """A dbt model's pipeline stage: its folder under dbt_project/models/ (fqn = project, folder, ..)."""
    fqn = dbt_resource_props["fqn"]
    return fqn[1] if len(fqn) > 2 else "analytics"


class ArenaDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by their stage folder; sources keep the asset key set in their yml meta."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        return stage_of_model(dbt_resource_props)


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class ArenaDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource, minus two per-run costs this project does not need:
    a `dbt --version` subprocess (the dbt it runs is the one installed beside this interpreter,
    `dbt_executable`, so the installed dbt-core's version is the CLI's), and an in-process dbt
    adapter with every macro loaded, which dagster-dbt only uses to fetch row counts and column
    metadata (this project reads row counts itself, `dagster_wc.dbt_metadata`)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


@contextmanager
def dbt_environment(home: Home, warehouse_path: Path | None = None) -> Iterator[None]:
    """Set the env vars profiles.yml and the sources read; restore them afterwards."""
    wanted = {
        "WC_HOME": str(home.root),
        "WC_WAREHOUSE_PATH": str(warehouse_path or home.warehouse),
        # a test runs only when all its models are selected: a stage's build never tests a
        # relationship to a model of a later stage that does not exist yet
        "DBT_INDIRECT_SELECTION": "cautious",
    }
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_executable() -> str:
    """The dbt next to this interpreter (the venv's), so a non-activated venv works too."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def project_files_digest() -> str:
    """Digest of the dbt project's own files (models, macros, tests, yml), not its outputs."""
    digest = hashlib.sha256()
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        rel = path.relative_to(DBT_PROJECT_DIR).as_posix()
        if path.is_file() and not rel.startswith(("target/", "logs/", "dbt_packages/")):
            digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stamp_path() -> Path:
    return dbt_project.manifest_path.with_name("manifest.fingerprint.json")


def _read_stamp() -> dict:
    try:
        return json.loads(_stamp_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def prepare_manifest(home: Home | None = None, vars_json: str | None = None) -> Path:
    """Parse the dbt project into target/manifest.json (what `dagster dev` does by itself).

    Skipped when the manifest was parsed from the same project files, vars and home (a stamp
    beside it). The home counts because the lake sources' locations render from WC_HOME at parse
    time, and dbt's partial parse, which every build reuses, is only valid for the same env vars
    and vars: pass the builds' `--vars` (`dbt_vars(config)`).
    """
    home = home or Home.resolve()
    stamp = {"files": project_files_digest(), "home": str(home.root), "vars": vars_json or ""}
    if dbt_project.manifest_path.exists() and _read_stamp() == stamp:
        return dbt_project.manifest_path
    target = dbt_project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    # Several processes (pytest workers, `dagster dev`, a CLI run) may parse at once: one parses
    # at a time, into a folder of its own, and the results are renamed into place, so a reader
    # never meets a half-written manifest.
    with (target / ".parse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if dbt_project.manifest_path.exists() and _read_stamp() == stamp:
                return dbt_project.manifest_path
            _parse_into_target(home, vars_json, target)
            _write_atomically(_stamp_path(), json.dumps(stamp))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return dbt_project.manifest_path


def _parse_into_target(home: Home, vars_json: str | None, target: Path) -> None:
    """`dbt parse` in a scratch target folder (seeded with the last partial parse), then rename
    its manifest and partial parse into `target`."""
    work = Path(tempfile.mkdtemp(dir=target, prefix=".parse-"))
    try:
        partial = target / "partial_parse.msgpack"
        if partial.exists():
            shutil.copy2(partial, work / partial.name)
        # parse with the same profile path the builds use, so their partial parsing stays valid
        with dbt_environment(home, home.root / "warehouse.building.duckdb"):
            completed = subprocess.run(
                [
                    dbt_executable(),
                    "parse",
                    "--quiet",
                    "--project-dir",
                    str(DBT_PROJECT_DIR),
                    "--profiles-dir",
                    str(DBT_PROJECT_DIR),
                    "--target-path",
                    str(work),
                    *(["--vars", vars_json] if vars_json else []),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        if completed.returncode != 0 or not (work / "manifest.json").exists():
            raise RuntimeError(
                f"dbt parse failed ({completed.returncode}):\n{completed.stdout[-3000:]}{completed.stderr[-2000:]}"
            )
        if (work / partial.name).exists():
            os.replace(work / partial.name, partial)
        os.replace(work / "manifest.json", dbt_project.manifest_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


@cache
def build_warehouse_dbt_assets() -> dg.AssetsDefinition:
    """The one `@dbt_assets` definition, built on first use, never at import time."""
    stale = _read_stamp().get("files") != project_files_digest()  # the project was edited
    if not dbt_project.manifest_path.exists() or stale or os.environ.get("DAGSTER_IS_DEV_CLI"):
        prepare_manifest()  # `dagster dev` always re-parses, so SQL edits show up

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=ArenaDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        name="warehouse_models",
    )
    def warehouse_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, arena: ArenaResource
    ):
        home = arena.home
        with warehouse_build(home) as building, dbt_environment(home, building):
            args = ["build", "--vars", dbt_vars(arena.arena_config)]
            events = list(dbt.cli(args, context=context).stream())
            yield from with_build_metadata(events, building)

    return warehouse_models


def manifest_check_parents() -> dict[dg.AssetCheckKey, frozenset[dg.AssetKey]]:
    """Every dbt test's asset check and the models it reads, from the parsed manifest."""
    return dbt_check_parents(json.loads(dbt_project.manifest_path.read_text()))


def dbt_vars(config: ArenaConfig) -> str:
    """The dbt `--vars` that carry the config's thresholds into SQL (a JSON mapping)."""
    return json.dumps(
        {
            "min_instruction_chars": config.mining.min_instruction_chars,
            "max_instruction_chars": config.mining.max_instruction_chars,
            "dedup_threshold": config.dedup.threshold,
            "min_score": config.scoring.min_score,
            "execution_judge_weight": (
                config.judging.execution.weight if config.judging.execution.enabled else 0.0
            ),
        },
        sort_keys=True,
    )
