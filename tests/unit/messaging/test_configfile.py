"""Operator files: every problem located as file:line: key: reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from messaging import ConfigError, load_model


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    mps: int = Field(gt=0)


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item]


def _load(tmp_path: Path, text: str) -> Doc:
    path = tmp_path / "x.toml"
    path.write_text(text)
    return load_model(path, Doc, display_path="config/x.toml")


def test_every_problem_is_reported_with_line_and_key(tmp_path: Path) -> None:
    text = '[[items]]\nname = "a"\nmps = 5\n\n[[items]]\nname = "b"\nmps = -1\ncolour = "red"\n'
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert [str(p) for p in info.value.problems] == [
        "config/x.toml:7: items[1].mps: must be > 0",
        "config/x.toml:8: items[1].colour: unknown key",
    ]


def test_missing_key_points_at_its_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config/x.toml:1: items\[0\].mps: is required$"):
        _load(tmp_path, '[[items]]\nname = "a"\n')


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config/x.toml:2: TOML syntax"):
        _load(tmp_path, "[[items]]\nname = \n")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(tmp_path / "missing.toml", Doc)


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    for_s: float = Field(gt=0)


class Carrier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    outages: list[Window] = Field(default_factory=list)


class Carriers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carriers: list[Carrier]


def test_nested_array_of_tables_headers_are_counted_per_parent_item(tmp_path: Path) -> None:
    text = """[[carriers]]
name = "a"

[[carriers.outages]]
for_s = 1

[[carriers]]
name = "b"

[[carriers.outages]]
for_s = 2

[[carriers.outages]]
for_s = 0
colour = "red"
"""
    path = tmp_path / "sim.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_model(path, Carriers, display_path="config/sim.toml")
    assert [str(p) for p in info.value.problems] == [
        "config/sim.toml:14: carriers[1].outages[1].for_s: must be > 0.0",
        "config/sim.toml:15: carriers[1].outages[1].colour: unknown key",
    ]
