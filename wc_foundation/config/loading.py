"""Reading a config file: YAML with guards, validation into `ArenaConfig`, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

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


def read_config_data(path: str | Path, home: Path | None = None) -> Any:
    """The parsed YAML of a config file, unvalidated; every read or YAML problem is a ConfigError.

    `${WC_HOME}` in the file is replaced by the home directory (so configs can point at models
    built under it, as the demo does).
    """
    path = Path(path)
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
