"""Operator files: TOML → pydantic model, every problem located as ``file:line: key: reason``.

tomllib keeps no positions, so :class:`TomlSource` indexes the text once: each table header
and each ``key =`` line is mapped to its key path (arrays of tables counted), and a problem's
path is located at its longest indexed prefix.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from messaging.errors import ConfigError, ConfigProblem

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(
    r"^\s*((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*="
)
_TOML_LINE = re.compile(r"at line (\d+)")


def _split_key(dotted: str) -> list[str]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_\-]+)", dotted)
    return [a or b or c for a, b, c in parts]


def format_loc(loc: Loc) -> str:
    """``("routes", 3, "mps")`` → ``routes[3].mps``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _resolve(names: Sequence[str], counters: dict[Loc, int]) -> Loc:
    """A header's key path with the current item of every enclosing array of tables, so
    ``[[carriers.outages]]`` inside the second ``[[carriers]]`` is ``("carriers", 1, "outages")``.
    """
    path: Loc = ()
    for name in names[:-1]:
        path = (*path, name)
        if path in counters:
            path = (*path, counters[path])
    return (*path, names[-1])


def _index_lines(text: str) -> dict[Loc, int]:
    index: dict[Loc, int] = {}
    counters: dict[Loc, int] = {}  # array of tables (resolved path) → its current item
    table: Loc = ()
    depth = 0  # open brackets/braces of a multi-line value
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0] if '"' not in line and "'" not in line else line
        if depth == 0:
            header = _HEADER.match(line)
            if header:
                key = _resolve(_split_key(header.group(2)), counters)
                if header.group(1) == "[[":
                    counters[key] = counters.get(key, -1) + 1
                    table = (*key, counters[key])
                    index.setdefault(key, number)
                else:
                    table = key
                index[table] = number
                continue
            assign = _ASSIGN.match(line)
            if assign:
                index[(*table, *_split_key(assign.group(1)))] = number
        depth += (
            stripped.count("[") + stripped.count("{") - stripped.count("]") - stripped.count("}")
        )
        depth = max(depth, 0)
    return index


@dataclass(frozen=True)
class TomlSource:
    """A parsed TOML file that can say on which line a key path lives."""

    path: str
    data: dict[str, Any]
    lines: dict[Loc, int] = field(repr=False)

    def line_of(self, loc: Loc) -> int | None:
        """Line of the longest prefix of `loc` that the file spells out."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None

    def problem(self, loc: Loc, reason: str) -> ConfigProblem:
        """A located problem for `loc`."""
        return ConfigProblem(self.path, self.line_of(loc), format_loc(loc), reason)


def read_toml(path: str | Path, display_path: str | None = None) -> TomlSource:
    """Read and parse a TOML file.

    Raises:
        ConfigError: unreadable file or TOML syntax error (with its line).
    """
    shown = display_path or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(shown, None, "", f"cannot read: {exc.strerror}")]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        line = int(match.group(1)) if match else None
        reason = _TOML_LINE.sub("", str(exc)).replace("()", "").strip(" ,")
        raise ConfigError([ConfigProblem(shown, line, "", f"TOML syntax: {reason}")]) from None
    return TomlSource(shown, data, _index_lines(text))


def _reason(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    simple = {
        "missing": "is required",
        "extra_forbidden": "unknown key",
        "string_type": "must be a string",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "list_type": "must be a list",
        "dict_type": "must be a table",
        "model_type": "must be a table",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in bounds:
        bound = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {bound}"
    if kind in {"literal_error", "enum"}:
        return f"must be one of {ctx.get('expected', '')}".strip()
    message = str(error["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def problems_from_validation(
    source: TomlSource, exc: ValidationError, prefix: Loc = ()
) -> list[ConfigProblem]:
    """Turn every pydantic error into a located problem."""
    out = []
    for error in exc.errors():
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        out.append(source.problem((*prefix, *loc), _reason(error)))
    return out


def validate(source: TomlSource, model: type[M]) -> M:
    """Validate the whole file against `model`, reporting every problem, not just the first.

    Raises:
        ConfigError: one located problem per pydantic error.
    """
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(source, exc)) from None


def load_model(path: str | Path, model: type[M], display_path: str | None = None) -> M:
    """Read, parse and validate an operator file in one step."""
    return validate(read_toml(path, display_path), model)


def raise_if(problems: Sequence[ConfigProblem]) -> None:
    """Raise one ConfigError for all `problems`, if any."""
    if problems:
        raise ConfigError(problems)
