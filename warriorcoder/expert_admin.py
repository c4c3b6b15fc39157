"""Adding an expert to a config file: validate the whole new config before writing anything."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from gpu_ops.llm.model_check import check_model_usable
from wc_foundation.config import ConfigError, parse_config, read_config_data


def add_expert_to_config(
    config_path: str | Path,
    *,
    slug: str,
    model: str,
    backend: str = "transformers",
    endpoints: list[str] | None = None,
    family: str | None = None,
    roles: list[str] | None = None,
    home: Path | None = None,
) -> dict[str, Any]:
    """Append an expert entry; the file is rewritten only if the new config validates and the
    model loads and renders its chat template (`check_model_usable`).

    Until then nothing is written, so a failed add leaves the file byte-identical and a retry
    with the right model works. The previous file is kept as `<name>.bak` (PyYAML does not keep
    comments).
    """
    path = Path(config_path)
    read_config_data(path, home)  # every read, encoding, YAML or shape problem: ConfigError
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}  # raw: keeps ${WC_HOME}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must be a mapping at the top level")
    if "extends" in data:
        raise ConfigError(
            f"config file {str(path)!r} extends {data['extends']!r}: edit its experts list by "
            "hand (a list in this file replaces the extended file's list whole)"
        )
    if not isinstance(data.get("experts") or [], list):
        raise ConfigError(f"experts: must be a list in {path}")
    entry: dict[str, Any] = {"slug": slug, "model": model, "backend": backend}
    if endpoints:
        entry["endpoints"] = list(endpoints)
    if family:
        entry["family"] = family
    if roles:
        entry["roles"] = list(roles)
    experts = list(data.get("experts") or [])
    if any(isinstance(e, dict) and e.get("slug") == slug for e in experts):
        raise ConfigError(f"experts: an expert with slug {slug!r} is already configured in {path}")
    data["experts"] = [*experts, entry]
    resolved = yaml.safe_load(yaml.safe_dump(data).replace("${WC_HOME}", str(home or ".")))
    arena = parse_config(resolved, source=str(path))
    check_model_usable(arena.expert(slug).to_model_spec())
    shutil.copy2(path, path.with_suffix(path.suffix + ".bak"))
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return entry
