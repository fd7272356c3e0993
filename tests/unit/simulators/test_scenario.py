"""Scenario files: what loads, and the exact located message for what doesn't."""

from __future__ import annotations

from pathlib import Path

import pytest

from messaging import ConfigError
from simulators.scenario import DelayRange, load_scenario

ROOT = Path(__file__).resolve().parents[3]


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "sim.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    return [str(p).replace(str(path), "sim.toml") for p in caught.value.problems]


def test_shipped_simulator_toml_has_alpha_and_beta_matching_routes() -> None:
    scenario = load_scenario(ROOT / "config" / "simulator.toml")
    alpha, beta = scenario.carriers
    assert (alpha.name, alpha.port, alpha.system_id, alpha.password) == (
        "alpha",
        2775,
        "alpha",
        "alphapw",
    )
    assert (beta.name, beta.port, beta.system_id, beta.password) == ("beta", 2776, "beta", "betapw")
    assert (alpha.mps, beta.mps, alpha.bucket_size) == (500, 500, 500)
    assert (alpha.undelivered_share, beta.undelivered_share) == (0.02, 0.05)
    assert alpha.receipts
    assert beta.receipts
    assert alpha.receipt_delay_ms == DelayRange(min=50, max=300)


@pytest.mark.parametrize("scenario_file", sorted((ROOT / "config" / "scenarios").glob("*.toml")))
def test_every_shipped_scenario_loads(scenario_file: Path) -> None:
    assert load_scenario(scenario_file).carriers


def test_fixed_delay_is_a_range_of_one_point(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text('[[carriers]]\nname = "a"\nsystem_id = "a"\nreceipt_delay_ms = 40\n')
    assert load_scenario(path).carriers[0].receipt_delay_ms == DelayRange(min=40, max=40)


def test_schema_errors_are_all_reported_with_their_lines(tmp_path: Path) -> None:
    text = """seed = 1

[[carriers]]
name = "a"
port = 2775
system_id = "a"
mps = 0
receipt_delay_ms = { min = 300, max = 50 }

[[carriers]]
name = "b"
system_id = "b"
undelivered_share = 2
throttle = "drop"
colour = "red"
submit_latency_ms = "slow"
message_id_format = "base64"
"""
    assert sorted(problems(tmp_path, text)) == sorted(
        [
            "sim.toml:7: carriers[0].mps: must be > 0",
            "sim.toml:8: carriers[0].receipt_delay_ms: min must be <= max",
            "sim.toml:13: carriers[1].undelivered_share: must be <= 1.0",
            "sim.toml:14: carriers[1].throttle: must be one of 'reject', 'queue' or 'queue_full'",
            "sim.toml:15: carriers[1].colour: unknown key",
            "sim.toml:16: carriers[1].submit_latency_ms: must be milliseconds or a table"
            " {min = ..., max = ...}",
            "sim.toml:17: carriers[1].message_id_format: must be one of 'hex', 'hex_upper',"
            " 'hex_padded', 'decimal' or 'decimal_padded'",
        ]
    )


def test_duplicate_names_and_ports_are_located(tmp_path: Path) -> None:
    text = """control_port = 9000

[[carriers]]
name = "a"
port = 2775
system_id = "a"

[[carriers]]
name = "a"
port = 2775
system_id = "b"

[[carriers]]
name = "c"
port = 9000
system_id = "c"
"""
    assert problems(tmp_path, text) == [
        "sim.toml:9: carriers[1].name: duplicate name 'a' (also carriers[0])",
        "sim.toml:10: carriers[1].port: port 2775 already used by carriers[0]",
        "sim.toml:15: carriers[2].port: port 9000 already used by control_port",
    ]


def test_missing_required_keys_and_no_carriers(tmp_path: Path) -> None:
    assert problems(tmp_path, "seed = 3\n") == ["sim.toml: carriers: is required"]
    assert problems(tmp_path, "[[carriers]]\nport = 1\n") == [
        "sim.toml:1: carriers[0].name: is required",
        "sim.toml:1: carriers[0].system_id: is required",
    ]


def test_ephemeral_ports_may_repeat(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(
        '[[carriers]]\nname = "a"\nsystem_id = "a"\n[[carriers]]\nname = "b"\nsystem_id = "b"\n'
    )
    assert [c.port for c in load_scenario(path).carriers] == [0, 0]


def test_syntax_error_has_its_line(tmp_path: Path) -> None:
    assert problems(tmp_path, 'seed = 1\n[[carriers]\nname = "a"\n')[0].startswith("sim.toml:2: ")


def test_outage_problems_are_located(tmp_path: Path) -> None:
    # Inline tables: messaging's line index does not follow [[carriers.outages]] headers yet.
    text = """[[carriers]]
name = "a"
system_id = "a"
outages = [{ after_s = -1, for_s = 0, mode = "broken" }]
"""
    assert problems(tmp_path, text) == [
        "sim.toml:4: carriers[0].outages[0].after_s: must be >= 0.0",
        "sim.toml:4: carriers[0].outages[0].for_s: must be > 0.0",
        "sim.toml:4: carriers[0].outages[0].mode:"
        " must be one of 'normal', 'syserr', 'silent', 'down' or 'slow'",
    ]


def test_prefix_problems_are_located(tmp_path: Path) -> None:
    bad = """[[carriers]]
name = "a"
system_id = "a"
prefixes = [{ prefix = "44x" }]
"""
    assert problems(tmp_path, bad) == [
        "sim.toml:4: carriers[0].prefixes[0].prefix:"
        " must be digits, optionally after one leading +",
    ]
    duplicate = """[[carriers]]
name = "a"
system_id = "a"
prefixes = [
  { prefix = "4477", submit_status = 11 },
  { prefix = "+4477", undelivered_share = 0.5 },
]
"""
    assert problems(tmp_path, duplicate) == [
        "sim.toml:4: carriers[0].prefixes[1].prefix: duplicate prefix '+4477' (also prefixes[0])",
    ]


def test_quirk_and_timeline_problems_are_located(tmp_path: Path) -> None:
    text = """[[carriers]]
name = "a"
system_id = "a"
throttle = "drop"
receipt_race_share = 1.5
segment_receipts = "middle"
bind_loss_every_s = 0
enquire_link_s = -2
write_high_water = 100
"""
    assert problems(tmp_path, text) == [
        "sim.toml:4: carriers[0].throttle: must be one of 'reject', 'queue' or 'queue_full'",
        "sim.toml:5: carriers[0].receipt_race_share: must be <= 1.0",
        "sim.toml:6: carriers[0].segment_receipts: must be one of 'each', 'first' or 'last'",
        "sim.toml:7: carriers[0].bind_loss_every_s: must be > 0.0",
        "sim.toml:8: carriers[0].enquire_link_s: must be > 0.0",
        "sim.toml:9: carriers[0].write_high_water: must be >= 1024",
    ]


def test_outage_tables_under_the_second_carrier_point_at_their_own_lines(tmp_path: Path) -> None:
    text = """[[carriers]]
name = "a"
system_id = "a"

[[carriers.outages]]
after_s = 1
for_s = 1

[[carriers]]
name = "b"
system_id = "b"

[[carriers.outages]]
after_s = 2
for_s = 3
every_s = 3
mode = "syserr"

[[carriers.outages]]
after_s = 1
for_s = 1
mode = "slow"
latency_factor = 0
"""
    assert problems(tmp_path, text) == [
        "sim.toml:13: carriers[1].outages[0]:"
        " every_s must be > for_s (the windows would never end)",
        "sim.toml:23: carriers[1].outages[1].latency_factor: must be > 0.0",
    ]


def test_shipped_five_scenarios_exist_with_alpha_and_beta() -> None:
    names = ("steady", "throttled", "flaky", "outage", "quirky_receipts")
    for name in names:
        scenario = load_scenario(ROOT / "config" / "scenarios" / f"{name}.toml")
        assert [c.name for c in scenario.carriers] == ["alpha", "beta"], name
        assert scenario.control_port == 0, name


def test_outcome_shares_must_fit_in_one(tmp_path: Path) -> None:
    text = """[[carriers]]
name = "a"
system_id = "a"
undelivered_share = 0.5
expired_share = 0.4
no_receipt_share = 0.3
"""
    assert problems(tmp_path, text) == [
        "sim.toml:1: carriers[0]: outcome shares must sum to <= 1 (they sum to 1.2)",
    ]
    errors = '[[carriers]]\nname = "a"\nsystem_id = "a"\nundelivered_errors = [1, 1000]\n'
    assert problems(tmp_path, errors) == [
        "sim.toml:4: carriers[0].undelivered_errors[1]: must be <= 999",
    ]
