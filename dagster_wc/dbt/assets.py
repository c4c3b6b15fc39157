"""The dbt project as Dagster assets: every staging view, intermediate model and mart.

dbt is the only writer of the warehouse. Each dbt build writes a copy of the warehouse and
swaps it in (`wc_foundation.warehouse.warehouse_build`), so readers never meet a lock.
dbt runs inside the step's process (`dagster_wc.dbt.inprocess`): the project is parsed once per
process, home and vars, and each build reuses that parsed manifest, so a build costs dbt's own
work rather than a dbt process start (about 3.4 s each). The results become the same asset
events as dagster-dbt's CLI resource gives (materializations, asset checks), plus row counts.
The `@dbt_assets` definition is built lazily (inside a cached function) so importing this module
never parses dbt; `prepare_manifest()` builds the manifest for tests and the CLI.
"""

import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtProject,
    dbt_assets,
)

from dagster_wc.dbt.inprocess import DbtBuildError, common_args, invoke, parse
from dagster_wc.dbt.metadata import with_build_metadata
from dagster_wc.orchestration.plan import dbt_check_parents
from dagster_wc.resources import ArenaResource
from dagster_wc.upstream_internals import dbt_asset_events, dbt_subset_selection
from wc_foundation.config import ArenaConfig
from wc_foundation.storage import Home
from wc_foundation.warehouse import warehouse_build

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
KEPT_MANIFESTS = 4  # parsed manifests kept per process (a test worker meets many homes)


def stage_of_model(dbt_resource_props: Mapping[str, Any]) -> str:
    """A dbt model's pipeline stage: its folder under dbt_project/models/ (fqn = project, folder, ..)."""
    fqn = dbt_resource_props["fqn"]
    return fqn[1] if len(fqn) > 2 else "analytics"


# dagster-dbt keeps these Python objects in every dbt asset's metadata so that its helpers can
# find them at run time; the UI can only show them as "[DbtProject] (unserializable)". The
# arena's build passes them itself (ArenaDbtResource.build), so the translator drops them.
_IN_PROCESS_METADATA = frozenset(
    {"dagster_dbt/manifest", "dagster_dbt/dagster_dbt_translator", "dagster_dbt/project"}
)


def dbt_test_description(test: Mapping[str, Any]) -> str:
    """What a dbt test asserts, in words: its own description, else one built from the generic
    test and its arguments, else a singular test's leading SQL comment."""
    if test.get("description"):
        return str(test["description"])
    generic = test.get("test_metadata")
    if not generic:
        comment = [
            line.strip().removeprefix("--").strip()
            for line in str(test.get("raw_code", "")).splitlines()
            if line.strip().startswith("--")
        ]
        return " ".join(comment) or f"the query {test['name']} returns no rows"
    kwargs = {k: v for k, v in generic.get("kwargs", {}).items() if k != "model"}
    column = test.get("column_name") or kwargs.get("column_name")
    name = generic["name"]
    if name == "not_null":
        return f"{column} is never null"
    if name == "unique":
        return f"{column} is unique"
    if name == "accepted_values":
        return f"{column} only takes the values {', '.join(map(str, kwargs['values']))}"
    if name == "relationships":
        return f"every {column} is a {kwargs['field']} of {kwargs['to']}"
    if name == "unique_combination":
        return f"one row per ({', '.join(kwargs['columns'])})"
    if name == "expression_is_true":
        return f"every row satisfies {kwargs['expression']}"
    arguments = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"dbt test {name}({arguments})"


class ArenaDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by their stage folder; sources keep the asset key set in their yml meta;
    every dbt test's asset check says what it asserts (`dbt_test_description`)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        return stage_of_model(dbt_resource_props)

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        kept = {k: v for k, v in spec.metadata.items() if k not in _IN_PROCESS_METADATA}
        return spec.replace_attributes(metadata=kept)

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=dbt_test_description(manifest["nodes"][unique_id]))


ARENA_TRANSLATOR = ArenaDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
)


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_paths(home_root: Path, warehouse: Path) -> dict[str, str]:
    """The variables profiles.yml and the lake sources read: the home and the warehouse file."""
    return {"WC_HOME": str(home_root), "WC_WAREHOUSE_PATH": str(warehouse)}


@contextmanager
def dbt_environment(home: Home, warehouse_path: Path | None = None) -> Iterator[None]:
    """Set the env vars profiles.yml and the sources read; restore them afterwards."""
    wanted = {
        **dbt_paths(home.root, warehouse_path or home.warehouse),
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
    """The dbt next to this interpreter (the venv's), for tests and benchmarks that run dbt apart."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_subprocess(
    args: list[str], *, home_root: Path, warehouse: Path, target_dir: Path, log_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a `dbt <args>` process on this project (what tests and
    benchmarks run apart from the pipeline, which runs dbt in-process)."""
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    env = {
        **os.environ,
        **dbt_paths(home_root, warehouse),
        "DBT_TARGET_PATH": str(target_dir),
        "DBT_LOG_PATH": str(log_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return command, env


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


def _stamp(home: Home, vars_json: str | None) -> dict:
    """What a parse depends on. The home counts because the lake sources' locations render from
    WC_HOME at parse time; the vars because a parse is only valid for the vars it saw."""
    return {"files": project_files_digest(), "home": str(home.root), "vars": vars_json or ""}


_parsed: dict[str, Any] = {}  # stamp (as JSON) -> the dbt Manifest object parsed in this process


def prepare_manifest(home: Home | None = None, vars_json: str | None = None) -> Path:
    """Parse the dbt project into target/manifest.json (what `dagster dev` does by itself).

    Skipped when the manifest was parsed from the same project files, vars and home (a stamp
    beside it); pass the builds' `--vars` (`dbt_vars(config)`).
    """
    home = home or Home.resolve()
    stamp = _stamp(home, vars_json)
    if not (dbt_project.manifest_path.exists() and _read_stamp() == stamp):
        _parse_and_keep(home, vars_json, stamp, skip_if_current=True)
    return dbt_project.manifest_path


def parsed_manifest(home: Home, vars_json: str) -> Any:
    """The dbt Manifest object for this home and vars, parsed at most once per process."""
    stamp = _stamp(home, vars_json)
    key = json.dumps(stamp, sort_keys=True)
    if key not in _parsed:
        _parse_and_keep(home, vars_json, stamp, skip_if_current=False)
    return _parsed[key]


def _parse_and_keep(home: Home, vars_json: str | None, stamp: dict, *, skip_if_current: bool):
    """Parse in this process and keep the Manifest object.

    Several processes (pytest workers, `dagster dev`, a CLI run) may parse at once: one parses at
    a time, into a folder of its own (seeded with the last partial parse), and the results are
    renamed into target/, so a reader never meets a half-written manifest.
    """
    target = dbt_project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".parse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if skip_if_current and dbt_project.manifest_path.exists() and _read_stamp() == stamp:
                return
            work = Path(tempfile.mkdtemp(dir=target, prefix=".parse-"))
            try:
                partial = target / "partial_parse.msgpack"
                if partial.exists():
                    shutil.copy2(partial, work / partial.name)
                # parse with the profile path the builds use, so partial parsing stays valid
                with dbt_environment(home, home.root / "warehouse.building.duckdb"):
                    manifest = parse(DBT_PROJECT_DIR, work, vars_json)
                if (work / partial.name).exists():
                    os.replace(work / partial.name, partial)
                os.replace(work / "manifest.json", dbt_project.manifest_path)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            _write_atomically(_stamp_path(), json.dumps(stamp))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    while len(_parsed) >= KEPT_MANIFESTS:
        _parsed.pop(next(iter(_parsed)))
    _parsed[json.dumps(stamp, sort_keys=True)] = manifest


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


class ArenaDbtResource(dg.ConfigurableResource):
    """Runs `dbt build` in this process for the models and checks a step selected."""

    project_dir: str

    def build(self, context: dg.AssetExecutionContext, home: Home, vars_json: str) -> list:
        """dagster-dbt's asset events for one build; raises `DbtBuildError` naming what failed.

        The selection is dagster-dbt's own for the step's subset (its selected models, and the
        tests of selected checks whose model another step built); the caller has set the
        environment (`dbt_environment`).
        """
        manifest_object = parsed_manifest(home, vars_json)
        manifest, translator = _manifest(), ARENA_TRANSLATOR
        selection, indirect = dbt_subset_selection(context, manifest, translator)
        target = Path(tempfile.mkdtemp(dir=dbt_project.manifest_path.parent, prefix=".build-"))
        try:
            args = [
                "build",
                "--no-write-json",
                *common_args(Path(self.project_dir), target, vars_json),
                *selection,
                *(["--indirect-selection", indirect] if indirect else []),
            ]
            done = invoke(args, manifest_object)
        finally:
            shutil.rmtree(target, ignore_errors=True)
        if not done.success:
            raise DbtBuildError(done.failure_message("build"))
        events = []
        for raw in done.result_events:
            events += dbt_asset_events(
                raw, manifest=manifest, translator=translator, context=context, project=dbt_project
            )
        return events


@cache
def build_warehouse_dbt_assets() -> dg.AssetsDefinition:
    """The one `@dbt_assets` definition, built on first use, never at import time."""
    stale = _read_stamp().get("files") != project_files_digest()  # the project was edited
    if not dbt_project.manifest_path.exists() or stale or os.environ.get("DAGSTER_IS_DEV_CLI"):
        prepare_manifest()  # `dagster dev` always re-parses, so SQL edits show up

    _manifest.cache_clear()

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=ARENA_TRANSLATOR,
        name="warehouse_models",
    )
    def warehouse_models(
        context: dg.AssetExecutionContext, dbt: ArenaDbtResource, arena: ArenaResource
    ):
        home = arena.home
        with warehouse_build(home) as building, dbt_environment(home, building):
            events = dbt.build(context, home, dbt_vars(arena.arena_config))
            yield from with_build_metadata(events, building, manifest_previews())

    return warehouse_models


@cache
def _manifest() -> dict[str, Any]:
    """The parsed manifest the dbt assets were built from (dagster-dbt's node lookups)."""
    return json.loads(dbt_project.manifest_path.read_text())


def manifest_check_parents() -> dict[dg.AssetCheckKey, frozenset[dg.AssetKey]]:
    """Every dbt test's asset check and the models it reads, from the parsed manifest."""
    return dbt_check_parents(json.loads(dbt_project.manifest_path.read_text()))


def manifest_previews() -> dict[str, str]:
    """Each model's preview query for the UI, from its yml (`config.meta.preview`)."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    return {
        node["name"]: " ".join(node["config"]["meta"]["preview"].split())
        for node in nodes
        if node["resource_type"] == "model" and "preview" in node["config"].get("meta", {})
    }


def manifest_model_files() -> dict[str, tuple[str, ...]]:
    """Each dbt model's own files, relative to the project: its SQL and the yml that patches it
    (description, tests, unit tests), from the parsed manifest."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    return {
        node["name"]: tuple(
            path
            for path in (
                node["original_file_path"],
                (node.get("patch_path") or "").split("://")[-1],
            )
            if path
        )
        for node in nodes
        if node["resource_type"] == "model"
    }


def dbt_vars(config: ArenaConfig) -> str:
    """The dbt `--vars` that carry the config's thresholds into SQL (a JSON mapping)."""
    return json.dumps(
        {
            "min_instruction_chars": config.mining.min_instruction_chars,
            "max_instruction_chars": config.mining.max_instruction_chars,
            "min_score": config.scoring.min_score,
            "execution_judge_weight": (
                config.judging.execution.weight if config.judging.execution.enabled else 0.0
            ),
        },
        sort_keys=True,
    )
