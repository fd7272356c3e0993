"""docs/operations.md names every setting, and only settings that exist."""

from __future__ import annotations

import re
from pathlib import Path

from switchboard.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_operations_page_names_every_setting_and_no_other() -> None:
    settings = {f"SWITCHBOARD_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"\bSWITCHBOARD_[A-Z0-9_]*[A-Z0-9]", DOC.read_text()))
    assert settings - named == set(), "settings the page does not name"
    assert named - settings - {"SWITCHBOARD_METRICS_PORT"} == set(), "names that are no setting"
