"""The running API against its own OpenAPI document: schemathesis, a bounded run, zero 5xx.

A real stack (API process, workers, simulator, Redis, the database on each backend) and the
schemathesis CLI with every check but `positive_data_acceptance` (a schema cannot say which
strings are dialable numbers, so schema-valid bodies are rightly refused with 422). The
checks include `not_a_server_error`, status code / content type / headers / body conformance,
`negative_data_rejection` (schema-invalid input must be a 4xx) and `ignored_auth`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

import pytest

from switchboard.wiring import utcnow
from tests.e2e.conftest import StackFactory, logged_secrets

# Per operation and phase. The default run sends ~600 requests a backend, every operation on
# both; the fuller search (~1,500 a backend) is in `make test-slow`.
MAX_EXAMPLES = [10, pytest.param(25, marks=pytest.mark.slow)]


HTTP = {"get", "put", "post", "delete", "patch"}
_ANSWERED = re.compile(r'^switchboard_http_requests_total\{[^}]*status="(\d+)"[^}]*\} (\S+)$', re.M)


def _answered_by_status(api_url: str, admin_key: str) -> dict[int, int]:
    """Requests the API answered so far, by status (its `/metrics` counter)."""
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        api_url + "/metrics", headers={"Authorization": f"Bearer {admin_key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
        text = response.read().decode()
    counts: dict[int, int] = {}
    for status, value in _ANSWERED.findall(text):
        counts[int(status)] = counts.get(int(status), 0) + int(float(value))
    assert counts, "no switchboard_http_requests_total in /metrics"
    return counts


# Revoking or rotating an API key can revoke the very key the run sends (schemathesis reads
# the ids GET /v1/keys lists and feeds them to these): every later request of that run is a
# 401 and tests nothing. So they run apart, with an admin key of their own to lose (and the
# routes that make and list keys, whose answers give them ids).
KEY_KILLERS = ("delete_v1_keys_id", "post_v1_keys_id_rotate")
KEY_MAKERS = ("get_v1_keys", "post_v1_keys")


def _schemathesis(
    api_url: str, key: str, max_examples: int, report: Path, filters: list[str]
) -> tuple[str, int, set[str]]:
    """One `st run` (its output, test cases generated, operations tested), asserted green."""
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            str(st),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            api_url + "/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            *filters,
            "--max-examples",
            str(max_examples),
            "--seed",
            "14",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",  # nothing kept between runs: every run is the seeded one
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=100,  # within the test's own timeout, so a hung request shows its output
        check=False,
    )
    output = run.stdout + run.stderr
    failures = max(output.find("FAILURES"), output.find("ERRORS"))
    assert run.returncode == 0, output[failures : failures + 8000]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None, output[-3000:]
    root = ElementTree.parse(report).getroot()  # noqa: S314 - st's own
    tested = {
        case.get("name", "") for case in root.iter("testcase") if case.find("skipped") is None
    }
    return output, int(generated.group(1)), tested


@pytest.mark.parametrize("max_examples", MAX_EXAMPLES)
def test_api_conforms_to_its_openapi_document(
    make_stack: StackFactory, tmp_path: Path, max_examples: int
) -> None:
    stack = make_stack()
    admin_key = stack.store.create_api_key("ops", utcnow(), is_admin=True)
    keys_key = stack.store.create_api_key("ops-keys", utcnow(), is_admin=True)
    with urllib.request.urlopen(stack.api_url + "/v1/openapi.json", timeout=10) as response:  # noqa: S310 - 127.0.0.1
        document = json.loads(response.read())
    assert document["openapi"] == "3.1.0"
    apart = [f for op in KEY_KILLERS for f in ("--exclude-operation-id", op)]
    output, generated, tested = _schemathesis(
        stack.api_url, admin_key, max_examples, tmp_path / "st.xml", apart
    )
    assert stack.store.key_owner(admin_key) is not None  # the whole run had its key
    alone = [f for op in KEY_KILLERS + KEY_MAKERS for f in ("--include-operation-id", op)]
    _, generated_apart, tested_apart = _schemathesis(
        stack.api_url, keys_key, max_examples, tmp_path / "st-keys.xml", alone
    )
    generated += generated_apart
    tested |= tested_apart
    assert generated >= 20 * max_examples, output[-3000:]  # 500 for 25
    declared = {
        f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops if m in HTTP
    }
    # every operation, not only the fast ones (schemathesis leaves out the document's own)
    assert declared - {"GET /v1/openapi.json"} <= tested, declared - tested
    # the API's own count of what it answered (its request counter, by status)
    scraper = stack.store.create_api_key("ops-scrape", utcnow(), is_admin=True)
    answered = _answered_by_status(stack.api_url, scraper)
    server_errors = {status: n for status, n in answered.items() if status >= 500}
    assert server_errors == {}, server_errors
    summary = output.rfind("SUMMARY")
    print(output[summary:] if summary >= 0 else output[-1500:])  # docs/security.md's figure
    print(
        f"schemathesis: {generated} test cases, {len(declared)} operations in the document,"
        f" {len(tested)} tested, {sum(answered.values())} requests answered, by status"
        f" {dict(sorted(answered.items()))}, 0 5xx"
    )
    stack.stop()  # every log flushed
    logs = "".join(p.read_text(errors="replace") for p in (stack.var_dir / "logs").glob("*.log"))
    assert "unexpected error" not in logs  # no request became a 500 internal_error
    secrets = {"admin key": admin_key, "keys admin key": keys_key, "API key": stack.api_key}
    assert logged_secrets(stack, secrets) == []
