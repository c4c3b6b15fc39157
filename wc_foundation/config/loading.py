"""Reading a config file: YAML with guards, validation into `ArenaConfig`, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from wc_foundation.config.arena_config import ArenaConfig
from wc_foundation.config.base import ConfigError


def _short_repr(value: Any, limit: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {_short_repr(value)})"
        lines.append(f"  - {location}: {message}{shown}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "<dict>") -> ArenaConfig:
    """Validate a config mapping; raise ConfigError listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid config {source}: the top level must be a mapping, got {type(data).__name__}"
        )
    try:
        return ArenaConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None
    except RecursionError:
        raise ConfigError(f"invalid config {source}: values are nested too deeply") from None


class _ConfigLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` whose bad scalars (`2020-13-45`, `!!int abc`) are YAML errors with a line.

    PyYAML's constructors raise plain ValueError/AttributeError for those, without a position.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError) as error:
            kind = node.tag.removeprefix("tag:yaml.org,2002:")
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {kind} value: {error}", node.start_mark
            ) from None


MAX_NESTING = 32  # a real config is about 5 levels deep


MAX_VALUES = 100_000  # guards against YAML alias bombs ("billion laughs")


def _check_shape(data: Any, source: str) -> None:
    """Reject parsed YAML nested deeper than MAX_NESTING or holding more than MAX_VALUES values.

    Iterative, so a deep or self-referencing (`&x [*x]`) document cannot exhaust the stack later.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ConfigError(
                f"config file {source!r} holds more than {MAX_VALUES} values "
                "(are YAML aliases expanding?)"
            )
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list | tuple | set):
            children = list(node)
        else:
            continue
        if depth > MAX_NESTING:
            raise ConfigError(
                f"config file {source!r} is nested more than {MAX_NESTING} levels deep"
            )
        stack.extend((child, depth + 1) for child in children)


EXTENDS_KEY = "extends"


def overlay(base: Any, override: Any) -> Any:
    """`override` laid over `base` (config data): mappings merge key by key, anything else,
    lists included, is replaced. How `extends` and every derived config combine their parts."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: overlay(base.get(k), v) for k, v in override.items()}}
    return override


def read_config_data(
    path: str | Path, home: Path | None = None, *, _chain: tuple[Path, ...] = ()
) -> Any:
    """The parsed YAML of a config file, unvalidated; every read or YAML problem is a ConfigError.

    `${WC_HOME}` in the file is replaced by the home directory (so configs can point at models
    built under it, as the demo does). A top-level `extends: OTHER.yaml` (relative to this
    file) reads OTHER first and lays this file over it: mappings merge key by key, lists and
    values are replaced (the ablation configs extend configs/paper.yaml this way).
    """
    data = _read_yaml(Path(path), home)
    if not isinstance(data, dict) or EXTENDS_KEY not in data:
        return data
    here = Path(path).resolve()
    base_name = data.pop(EXTENDS_KEY)
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"config file {str(path)!r}: `extends` must name a YAML file")
    base_path = (here.parent / base_name).resolve()
    if base_path in (*_chain, here):
        raise ConfigError(f"config file {str(path)!r}: `extends` loops back to {base_path}")
    base = read_config_data(base_path, home, _chain=(*_chain, here))
    if not isinstance(base, dict):
        raise ConfigError(f"config file {str(base_path)!r} (extended): not a mapping")
    return overlay(base, data)


def _read_yaml(path: Path, home: Path | None) -> Any:
    """One YAML file, parsed and shape-checked (see `read_config_data`)."""
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} is not a file")
    if home is None:
        from wc_foundation.storage import Home

        home = Home.resolve().root
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {str(path)!r} is not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None
    except OSError as error:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {error}") from None
    try:
        data = yaml.load(text.replace("${WC_HOME}", str(home)), Loader=_ConfigLoader)
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r} is nested too deeply") from None
    _check_shape(data, str(path))
    return data


def load_config(path: str | Path, home: Path | None = None) -> ArenaConfig:
    """Read and validate a YAML config file (see `read_config_data`)."""
    return parse_config(read_config_data(path, home), source=str(Path(path)))
