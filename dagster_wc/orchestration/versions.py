"""What a step's input version starts from: the code it runs and the config it reads.

Code: a Python step runs the module that defines its asset (`dagster_wc/defs/<stage>.py`, or a
plugin's module) and everything that module imports, directly or not
(`dagster_wc.orchestration.imports`): a shared module such as a prompt builder counts for every
stage that imports it, and a module no stage imports counts for none. Data files
beside that code (chat templates) count with it. A dbt step runs the dbt room's code
(`dagster_wc.dbt.assets` and its imports). Both add the SQL they read: the files of every dbt
model the step builds or reads, up to the lake sources, and the project-wide dbt files (macros,
singular tests, dbt_project.yml, profiles.yml, the sources' yml). So editing a stage's module
re-runs that stage and what reads its output, and editing a model re-runs the steps downstream of
it, not every step.

Config: a stage module names the config sections it reads in `CONFIG_SECTIONS` (a test checks the
names against what the module's code reads); its steps hash those sections and the local model
folders they name. A dbt step hashes its `--vars`. A stage without `CONFIG_SECTIONS` hashes the
whole config. The `compute` section (Ray address, state database) is in no step's version, even
where a stage reads it: it says where the work runs, never what it computes, so moving an arena
onto a cluster re-runs nothing.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dagster_wc.dbt.assets import dbt_vars, manifest_model_files, project_source_files
from dagster_wc.orchestration.imports import (
    REPO_ROOT,
    asset_modules,
    import_closure,
    import_graph,
    module_files,
)
from dagster_wc.orchestration.plan import PipelineShape, Step
from wc_foundation.config import ArenaConfig

DATA_SUFFIXES = {".jinja", ".json", ".sql", ".yml", ".yaml"}  # files code reads beside it
DBT_SKIPPED = ("analyses/",)  # not what a build runs (project_source_files skips the outputs)
DBT_CODE_MODULE = "dagster_wc.dbt.assets"
STAGE_PACKAGE = "dagster_wc.defs"
PLACEMENT_SECTIONS = frozenset({"compute"})  # where the work runs, not what: in no version
# read by a command that writes the configs the steps then run (`warriorcoder flywheel`): no step
# reads it, and the configs it derives are what the steps hash
DRIVER_SECTIONS = frozenset({"flywheel"})


_FILE_DIGESTS: dict[Path, tuple[tuple[int, int], str]] = {}  # path -> (size, mtime), digest


def _file_digest(path: Path) -> str:
    """A file's content digest, read once per process while its size and mtime stay."""
    stat = path.stat()
    stamp = (stat.st_size, stat.st_mtime_ns)
    cached = _FILE_DIGESTS.get(path)
    if cached is None or cached[0] != stamp:
        cached = (stamp, hashlib.sha256(path.read_bytes()).hexdigest())
        _FILE_DIGESTS[path] = cached
    return cached[1]


def _digest(root: Path, paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        digest.update(f"{path.relative_to(root).as_posix()}={_file_digest(path)}\0".encode())
    return digest.hexdigest()[:16]


def _data_files(folder: Path) -> list[Path]:
    """Data files in the non-package subfolders of a package folder (templates, bundled json)."""
    found = []
    for child in folder.iterdir():
        if child.is_dir() and child.name != "__pycache__" and not (child / "__init__.py").exists():
            found += [p for p in child.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES]
    return found


@dataclass
class CodeVersions:
    """Code versions of steps, from the source under `root` and the dbt manifest's model files.

    `model_files` maps a dbt model's name to its files relative to the dbt project (its SQL and its
    yml); `dagster_wc.dbt.assets.manifest_model_files()` reads them from the manifest."""

    model_files: dict[str, tuple[str, ...]]
    root: Path = REPO_ROOT
    _cache: dict[tuple, str] = field(default_factory=dict)

    @cached_property
    def _modules(self) -> dict[str, Path]:
        return module_files(self.root)

    @cached_property
    def _graph(self) -> dict[str, set[str]]:
        return import_graph(self.root)

    @property
    def dbt_dir(self) -> Path:
        return self.root / "dbt_project"

    @cached_property
    def _shared_dbt_files(self) -> list[Path]:
        """Every file of the dbt project that belongs to no model: macros, tests, project yml."""
        owned = {rel for files in self.model_files.values() for rel in files}
        shared = []
        for path in project_source_files(self.dbt_dir):
            rel = path.relative_to(self.dbt_dir).as_posix()
            if rel.startswith(DBT_SKIPPED) or rel in owned:
                continue
            if path.suffix in {".sql", ".yml", ".yaml", ".csv"}:
                shared.append(path)
        return shared

    def modules_version(self, starts: Iterable[str]) -> str:
        """Digest of the modules `starts` import (all of the project's, if none of them exists)."""
        starts = tuple(sorted(starts))
        key = ("modules", starts)
        if key not in self._cache:
            closure = import_closure(self._graph, starts) or set(self._modules)
            files = [self._modules[name] for name in closure]
            for name in closure:
                path = self._modules[name]
                if path.name == "__init__.py":
                    files += _data_files(path.parent)
            self._cache[key] = _digest(self.root, files)
        return self._cache[key]

    def sql_version(self, models: Iterable[str]) -> str:
        """Digest of the named models' files and the project-wide dbt files ("" for no model)."""
        models = tuple(sorted(set(models)))
        if not models:
            return ""
        key = ("sql", models)
        if key not in self._cache:
            files = list(self._shared_dbt_files)
            for model in models:
                files += [self.dbt_dir / rel for rel in self.model_files.get(model, ())]
            self._cache[key] = _digest(self.root, [p for p in files if p.is_file()])
        return self._cache[key]

    def step_version(self, step: Step, shape: PipelineShape) -> str:
        """The code a step runs and the SQL it builds or reads."""
        keys = set(step.asset_keys) | {check.asset_key for check in step.check_keys}
        reads = set(keys)
        for key in keys:
            reads |= shape.ancestors(key)
        models = [k.path[-1] for k in reads if k in shape.dbt_keys]
        if step.kind == "dbt":
            modules = [DBT_CODE_MODULE]
        else:
            modules = sorted({self.module_of(key, shape) for key in keys})
        return f"{self.modules_version(modules)}:{self.sql_version(models)}"

    def module_of(self, key, shape: PipelineShape) -> str:
        """The module that defines a Python asset (a stage module, or a plugin's)."""
        defined = asset_modules(self.root).get(key.path[-1])
        return defined or f"{STAGE_PACKAGE}.{shape.group[key]}"


def config_sections(module_name: str) -> tuple[str, ...] | None:
    """The config sections a stage module reads (`CONFIG_SECTIONS`), None if it names none."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    sections = getattr(module, "CONFIG_SECTIONS", None)
    return tuple(sections) if sections is not None else None


def config_version(config: ArenaConfig, sections: Iterable[str] | None = None) -> str:
    """Digest of some config sections (all when None) and of the local model folders they name
    (by file stamps: size and mtime), and of the earlier rounds' winner files the export section
    names. `PLACEMENT_SECTIONS` and `DRIVER_SECTIONS` never count."""
    names = tuple(ArenaConfig.model_fields) if sections is None else tuple(sorted(sections))
    names = tuple(n for n in names if n not in PLACEMENT_SECTIONS | DRIVER_SECTIONS)
    digest = hashlib.sha256(config.stage_hash(*names).encode())
    models = []
    if "experts" in names:
        models += config.experts
    if "judging" in names:
        models += config.judging.extra_judges
    if "target" in names and config.target is not None:
        models.append(config.target)
    for model in models:
        folder = Path(model.model).expanduser()
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\0".encode())
    if "export" in names:
        for name in config.export.earlier_winners:
            path = Path(name).expanduser()
            stamp = path.stat() if path.is_file() else None
            size, mtime = (stamp.st_size, stamp.st_mtime_ns) if stamp else (-1, -1)
            digest.update(f"{path}:{size}:{mtime}\0".encode())
    return digest.hexdigest()[:16]


@dataclass
class StepVersions:
    """Each step's base version (its config and its code), for one config and one shape."""

    config: ArenaConfig
    shape: PipelineShape
    code: CodeVersions
    dbt_vars: str  # a dbt step's config: the `--vars` its build passes

    def base(self, step: Step) -> str:
        if step.kind == "dbt":
            config = hashlib.sha256(self.dbt_vars.encode()).hexdigest()[:16]
        else:
            modules = sorted({self.code.module_of(key, self.shape) for key in step.asset_keys})
            sections: set[str] | None = set()
            for module in modules:
                named = config_sections(module)
                sections = None if named is None or sections is None else sections | set(named)
            config = config_version(self.config, sections)
        return f"{config}:{self.code.step_version(step, self.shape)}"


def step_versions(config: ArenaConfig, shape: PipelineShape) -> StepVersions:
    """The steps' base versions for a config, with the model files of the current manifest."""
    return StepVersions(config, shape, CodeVersions(manifest_model_files()), dbt_vars(config))
