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


@pytest.mark.parametrize("max_examples", MAX_EXAMPLES)
def test_api_conforms_to_its_openapi_document(
    make_stack: StackFactory, tmp_path: Path, max_examples: int
) -> None:
    stack = make_stack()
    admin_key = stack.store.create_api_key("ops", utcnow(), is_admin=True)
    with urllib.request.urlopen(stack.api_url + "/v1/openapi.json", timeout=10) as response:  # noqa: S310 - 127.0.0.1
        document = json.loads(response.read())
    assert document["openapi"] == "3.1.0"
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            str(st),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            stack.api_url + "/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {admin_key}",
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
            str(tmp_path / "schemathesis.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=100,  # within the test's own timeout, so a hung request shows its output
        check=False,
    )
    output = run.stdout + run.stderr
    failures = output.find("FAILURES")
    assert run.returncode == 0, output[failures : failures + 8000]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None, output[-3000:]
    assert int(generated.group(1)) >= 20 * max_examples, output[-3000:]  # 500 for 25
    report = ElementTree.parse(tmp_path / "schemathesis.xml").getroot()  # noqa: S314 - st's own
    tested = {case.get("name") for case in report.iter("testcase") if case.find("skipped") is None}
    declared = {
        f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops if m in HTTP
    }
    # every operation, not only the fast ones (schemathesis leaves out the document's own)
    assert declared - {"GET /v1/openapi.json"} <= tested, declared - tested
    print(f"schemathesis: {generated.group(1)} examples, 0 failures, 0 5xx")
    stack.stop()  # every log flushed
    logs = "".join(p.read_text(errors="replace") for p in (stack.var_dir / "logs").glob("*.log"))
    assert "unexpected error" not in logs  # no request became a 500 internal_error
    assert logged_secrets(stack, {"admin key": admin_key, "API key": stack.api_key}) == []
