"""The dbt project as Dagster assets: every staging view, intermediate model and mart.

dbt is the only writer of the warehouse. Each dbt build writes a copy of the warehouse and
swaps it in (`wc_foundation.warehouse.warehouse_build`), so readers never meet a lock.
dbt runs inside the step's process (`dagster_wc.dbt.inprocess`): the project is parsed once per
process and vars, and each build reuses that parsed manifest, so a build costs dbt's own work
rather than a dbt process start (about 3.4 s each). The parse does not depend on the home: dbt
parses with a stand-in home (`PARSE_HOME`) and each build points the lake sources, the only part
the home changes, at its own home first (`manifest_for_build`). The results become the same asset
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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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

from dagster_wc.dbt.inprocess import DbtBuildError, common_args, invoke, one_at_a_time, parse
from dagster_wc.dbt.metadata import with_build_metadata
from dagster_wc.orchestration.plan import dbt_check_parents
from dagster_wc.resources import ArenaResource
from dagster_wc.upstream_internals import dbt_asset_events, dbt_subset_selection
from wc_foundation.config import ArenaConfig
from wc_foundation.storage import Home
from wc_foundation.warehouse import warehouse_build

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
KEPT_MANIFESTS = 4  # parsed manifests kept per process (one per vars: a test worker meets several)
# dbt parses the project with this stand-in home, so a parse serves every home (a build points
# the lake sources at its own) and dbt's partial parse never restarts for another home. It does
# not exist: a source left pointing here fails the build instead of reading another home's files.
PARSE_HOME = Path("/nonexistent/wc-dbt-parse-home")


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


DBT_OUTPUT_DIRS = frozenset({"target", "logs", "dbt_packages"})  # what dbt writes, not sources


def project_source_files(project_dir: Path = DBT_PROJECT_DIR) -> list[Path]:
    """The dbt project's own files (models, macros, tests, yml), sorted, never its outputs.

    The walk never enters target/, logs/ or dbt_packages/: other processes create and delete
    their build folders there (target/.build-*) while this walks, and a recursive glob that
    lists a folder just deleted raises FileNotFoundError (it failed a build in CI).
    """
    found = []
    for folder, subfolders, files in os.walk(project_dir):
        if Path(folder) == project_dir:
            subfolders[:] = [name for name in subfolders if name not in DBT_OUTPUT_DIRS]
        found += [Path(folder) / name for name in files]
    return sorted(found)


def project_files_digest(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """Digest of the dbt project's own files (models, macros, tests, yml), not its outputs."""
    digest = hashlib.sha256()
    for path in project_source_files(project_dir):
        rel = path.relative_to(project_dir).as_posix()
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stamp_path() -> Path:
    return dbt_project.manifest_path.with_name("manifest.fingerprint.json")


def _read_stamp() -> dict:
    try:
        return json.loads(_stamp_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _stamp(vars_json: str | None) -> dict:
    """What a parse depends on: the project's files and the vars (a parse is only valid for the
    vars it saw). Not the home: dbt parses with `PARSE_HOME` and each home is pointed at after."""
    return {"files": project_files_digest(), "vars": vars_json or ""}


@dataclass
class _Kept:
    manifest: Any  # the dbt Manifest object parsed in this process
    lake_home: str  # the home its lake sources read now
    manifest_json: str  # the parse's manifest.json (lake sources at `PARSE_HOME`)


_parsed: dict[str, _Kept] = {}  # parse stamp (as JSON) -> the kept Manifest


def prepare_manifest(home: Home | None = None, vars_json: str | None = None) -> Path:
    """Parse the dbt project into target/manifest.json (what `dagster dev` does by itself).

    Skipped when the manifest was parsed from the same project files and vars (a stamp beside
    it); pass the builds' `--vars` (`dbt_vars(config)`). Another home only rewrites the lake
    sources' locations in it (`_point_lake_sources`), and vars this process parsed already
    (another process's parse is on disk now) take this process's parse back, no parse either.
    """
    home = home or Home.resolve()
    stamp = _stamp(vars_json)
    wanted = {**stamp, "lake_home": str(home.root)}
    if dbt_project.manifest_path.exists() and _read_stamp() == wanted:
        return dbt_project.manifest_path
    with one_at_a_time(), _parse_lock():
        current = _read_stamp()
        kept = _parsed.get(json.dumps(stamp, sort_keys=True))
        if dbt_project.manifest_path.exists() and _same_parse(current, stamp):
            if current != wanted:
                on_disk = json.loads(dbt_project.manifest_path.read_text())
                _write_manifest(on_disk, current["lake_home"], home, stamp)
        elif kept is not None:
            _write_manifest(json.loads(kept.manifest_json), PARSE_HOME, home, stamp)
        else:
            _parse_and_keep(vars_json, stamp, home)
    return dbt_project.manifest_path


@contextmanager
def manifest_for_build(home: Home, vars_json: str) -> Iterator[Any]:
    """The dbt Manifest object for these vars (parsed at most once per process), its lake sources
    pointed at `home`, held for one build: this process's dbt turn is kept until the build ends,
    so another thread's build waits rather than point the sources at its own home under this one
    (which would make this build read the other home's Parquet files)."""
    with one_at_a_time():
        stamp = _stamp(vars_json)
        key = json.dumps(stamp, sort_keys=True)
        if key not in _parsed:
            with _parse_lock():
                _parse_and_keep(vars_json, stamp, home)
        kept = _parsed[key]
        if kept.lake_home != str(home.root):
            try:
                _point_lake_sources(kept.manifest.sources.values(), kept.lake_home, home.root)
            except Exception:
                _parsed.pop(key)  # half pointed: parse afresh next time
                raise
            kept.lake_home = str(home.root)
        yield kept.manifest


def _same_parse(on_disk: dict, stamp: dict) -> bool:
    return "lake_home" in on_disk and all(on_disk.get(k) == v for k, v in stamp.items())


@contextmanager
def _parse_lock() -> Iterator[None]:
    """One process parses (or rewrites target/manifest.json) at a time."""
    target = dbt_project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".parse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _parse_and_keep(vars_json: str | None, stamp: dict, home: Home) -> None:
    """Parse in this process with `PARSE_HOME`, keep the Manifest object, and leave
    target/manifest.json pointed at `home`. The caller holds `one_at_a_time` and `_parse_lock`.

    Several processes (pytest workers, `dagster dev`, a CLI run) may parse at once: one parses at
    a time, into a folder of its own (seeded with the last partial parse), and the results are
    renamed into target/, so a reader never meets a half-written manifest.
    """
    target = dbt_project.manifest_path.parent
    work = Path(tempfile.mkdtemp(dir=target, prefix=".parse-"))
    try:
        partial = target / "partial_parse.msgpack"
        if partial.exists():
            shutil.copy2(partial, work / partial.name)
        # the builds' profile path (the warehouse copy's name) in the stand-in home, so partial
        # parsing stays valid whichever home parsed last
        with dbt_environment(Home(PARSE_HOME), PARSE_HOME / "warehouse.building.duckdb"):
            manifest = parse(DBT_PROJECT_DIR, work, vars_json)
        if (work / partial.name).exists():
            os.replace(work / partial.name, partial)
        manifest_json = (work / "manifest.json").read_text()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write_manifest(json.loads(manifest_json), PARSE_HOME, home, stamp)
    while len(_parsed) >= KEPT_MANIFESTS:
        _parsed.pop(next(iter(_parsed)))
    _parsed[json.dumps(stamp, sort_keys=True)] = _Kept(manifest, str(PARSE_HOME), manifest_json)


def _write_manifest(manifest: dict, lake_home: str | Path, home: Home, stamp: dict) -> None:
    """target/manifest.json from a parse's manifest (its lake sources at `lake_home`), pointed at
    `home`, and its stamp. The caller holds `_parse_lock`."""
    _stamp_path().unlink(missing_ok=True)  # a crash before the stamp is back leaves a re-parse
    _point_lake_sources(manifest["sources"].values(), lake_home, home.root)
    _write_atomically(dbt_project.manifest_path, json.dumps(manifest))
    _write_atomically(_stamp_path(), json.dumps({**stamp, "lake_home": str(home.root)}))


def _point_lake_sources(sources: Iterable[Any], old_home: str | Path, new_home: str | Path) -> None:
    """Point the lake sources (dbt's objects or manifest.json's dicts) from one home's lake to
    another's: their `external_location` (as configured and as dbt renders it into
    `relation_name`) is the only part of a parse that the home changes."""
    old, new = f"'{old_home}/lake/", f"'{new_home}/lake/"
    for source in sources:
        is_dict = isinstance(source, dict)
        config = source["config"] if is_dict else source.config
        unrendered = source["unrendered_config"] if is_dict else source.unrendered_config
        if config.get("external_location") is None:
            continue
        moved = {}
        for name, value in (
            ("config", config.get("external_location")),
            ("unrendered", unrendered.get("external_location")),
            ("relation_name", source["relation_name"] if is_dict else source.relation_name),
        ):
            if value is None:
                continue
            if old not in value:
                raise DbtBuildError(
                    f"the lake source location {value!r} does not read {old[1:]}: the lake "
                    "sources no longer render from WC_HOME as dagster_wc/dbt/assets.py expects"
                )
            moved[name] = value.replace(old, new)
        config["external_location"] = moved["config"]
        if "unrendered" in moved:
            unrendered["external_location"] = moved["unrendered"]
        if "relation_name" in moved:
            if is_dict:
                source["relation_name"] = moved["relation_name"]
            else:
                source.relation_name = moved["relation_name"]


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
            with manifest_for_build(home, vars_json) as manifest_object:
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
