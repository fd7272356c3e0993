"""deploy/: the compose file, the systemd units, the Containerfile and the env example name only
commands that exist, settings that exist, and files that exist. (The image is not built here:
no container runtime on the test machine — docs/operations.md.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.credentials import SECRET_FIELDS, URL_PASSWORDS
from switchboard.runconfig import load_run_config
from switchboard.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SETTINGS = {f"SWITCHBOARD_{name.upper()}" for name in Settings.model_fields}
_SETTING_NAME = re.compile(r"\bSWITCHBOARD_[A-Z0-9_]+")


def _check_command(args: list[str]) -> None:
    """`switchboard ARGS --help` as the CLI parses it: an unknown command or option fails
    (exit 2), and nothing runs."""
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"switchboard {' '.join(args)}: {result.output}"


def _unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as section → [(key, value)], repeated keys kept."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_compose_has_redis_postgresql_and_switchboard_built_from_this_repo() -> None:
    services = _compose()["services"]
    assert {"redis", "postgres", "migrate", "switchboard"} <= set(services)
    build = services["migrate"]["build"]
    assert (DEPLOY / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).is_file()
    assert services["switchboard"]["image"] == services["migrate"]["image"]
    assert services["switchboard"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_compose_commands_are_switchboard_commands() -> None:
    services = _compose()["services"]
    for name in ("migrate", "switchboard", "simulator"):
        _check_command(services[name]["command"])


def test_compose_names_only_real_settings_files_services_and_volumes() -> None:
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        for variable in service.get("environment", {}):
            if variable.startswith("SWITCHBOARD_"):
                assert variable in SETTINGS, f"{name}: {variable} is no setting"
        for dependency in service.get("depends_on", {}):
            assert dependency in services
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
            else:
                assert source in compose["volumes"], volume
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"]
    grace = int(services["switchboard"]["stop_grace_period"].rstrip("s"))
    stop_timeout = load_run_config(ROOT / "config" / "switchboard.toml").supervisor.stop_timeout
    assert grace > 2 * stop_timeout  # two stages drain, each up to stop_timeout


def test_the_env_example_names_only_real_settings() -> None:
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "switchboard.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert names and set(names) <= SETTINGS
    assert "SWITCHBOARD_SECRET_KEY" in names and "SWITCHBOARD_DATABASE_URL" in names


@pytest.mark.parametrize("path", UNITS, ids=[p.name for p in UNITS])
def test_units_run_real_commands_with_real_settings(path: Path) -> None:
    unit = _unit(path)
    service = unit["Service"]
    execs = [value for key, value in service if key.startswith("Exec")]
    assert execs
    for line in execs:
        program, *args = shlex.split(line)
        assert program == "/opt/switchboard/bin/switchboard"  # the venv's entry point
        _check_command(args)
    for key, value in service:
        if key == "Environment":
            assert value.split("=", 1)[0] in SETTINGS, value
    assert ("EnvironmentFile", "/etc/switchboard/switchboard.env") in service
    assert "WantedBy" in dict(unit["Install"])


def test_units_load_only_credentials_switchboard_reads_and_the_run_unit_its_secrets() -> None:
    readable = {*SECRET_FIELDS, *URL_PASSWORDS.values()}
    loaded: dict[str, set[str]] = {}
    for path in UNITS:
        for key, value in _unit(path)["Service"]:
            if key == "LoadCredential":
                name, _, source = value.partition(":")
                assert name in readable and source == f"/etc/switchboard/credentials/{name}"
                loaded.setdefault(path.name, set()).add(name)
    assert loaded["switchboard.service"] == {"secret_key", "otp_secret", "database_password"}
    assert loaded["switchboard-migrate.service"] == {"database_password"}


def test_the_run_unit_lets_the_supervisor_drain() -> None:
    service = dict(_unit(DEPLOY / "systemd" / "switchboard.service")["Service"])
    assert service["KillMode"] == "mixed"  # SIGTERM to the supervisor only, SIGKILL at the end
    assert service["KillSignal"] == "SIGTERM"
    stop_timeout = load_run_config(ROOT / "config" / "switchboard.toml").supervisor.stop_timeout
    assert int(service["TimeoutStopSec"]) > 2 * stop_timeout


def test_the_containerfile_installs_the_package_and_runs_switchboard_run() -> None:
    text = (ROOT / "Containerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", text, re.MULTILINE):
        assert (ROOT / source).exists(), source
    packages = re.findall(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text())[0]
    for package in re.findall(r'"(\w+)\*"', packages):
        assert f"COPY {package} ./{package}" in text, f"{package} is not copied"
    assert re.search(r"^RUN pip install \.", text, re.MULTILINE)
    assert 'ENTRYPOINT ["switchboard"]' in text and 'CMD ["run"]' in text
    assert set(_SETTING_NAME.findall(text)) <= SETTINGS
    assert "SECRET_KEY=" not in text  # secrets come at run time


@pytest.mark.parametrize(
    "args", [["serve"], ["run", "--workers", "3"], ["db", "downgrade"], ["routes", "chek"]]
)
def test_the_command_check_refuses_what_the_cli_would(args: list[str]) -> None:
    with pytest.raises(AssertionError, match="switchboard"):
        _check_command(args)
