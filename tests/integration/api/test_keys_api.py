"""`/v1/keys` and `switchboard keys list|revoke|rotate` over SQLite and PostgreSQL: a key is
shown once, revoked keys are refused at once by the process that revoked them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from store import ROTATION_GRACE, SigningSecrets
from tests.integration.otp.conftest import START, Harness, run


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_admin_makes_lists_rotates_and_revokes_keys(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        admin = _auth(harness.admin_key)
        made = await client.post("/v1/keys", json={"account": "globex"}, headers=admin)
        assert made.status == 201
        new = await made.json()
        assert new["key"].startswith(f"sb_{new['prefix']}_") and new["admin"] is False
        assert (await client.get("/v1/messages", headers=_auth(new["key"]))).status == 200

        listed = await client.get("/v1/keys?account=globex", headers=admin)
        text = await listed.text()
        assert new["key"] not in text  # shown once, never listed
        assert [k["id"] for k in (await listed.json())["keys"]] == [new["id"]]

        rotated = await client.post(f"/v1/keys/{new['id']}/rotate", headers=admin)
        assert rotated.status == 201
        successor = await rotated.json()
        assert successor["account"] == "globex" and successor["id"] != new["id"]
        old = await client.get("/v1/messages", headers=_auth(new["key"]))
        assert (old.status, (await old.json())["code"]) == (401, "invalid_api_key")
        assert (await client.get("/v1/messages", headers=_auth(successor["key"]))).status == 200

        revoked = await client.delete(f"/v1/keys/{successor['id']}", headers=admin)
        assert revoked.status == 204
        assert (await client.delete(f"/v1/keys/{successor['id']}", headers=admin)).status == 204
        refused = await client.get("/v1/messages", headers=_auth(successor["key"]))
        assert refused.status == 401
        keys = (await (await client.get("/v1/keys?account=globex", headers=admin)).json())["keys"]
        assert all(k["revoked_at"] is not None for k in keys)
        again = await client.post(f"/v1/keys/{new['id']}/rotate", headers=admin)
        assert (again.status, (await again.json())["code"]) == (404, "key_not_found")

    run(harness, scenario)


def test_bad_key_requests_are_refused_and_make_nothing(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        admin = _auth(harness.admin_key)
        before = len(harness.messages.list_api_keys())
        for body, field in (
            ({}, "account"),
            ({"account": ""}, "account"),
            ({"account": "x" * 101}, "account"),
            ({"account": "globex", "admin": "yes"}, "admin"),
            ({"account": "globex", "owner": "me"}, "owner"),
        ):
            response = await client.post("/v1/keys", json=body, headers=admin)
            problem = await response.json()
            assert (response.status, problem["code"], problem["field"]) == (
                422,
                "invalid_input",
                field,
            )
        missing = await client.delete("/v1/keys/" + "0" * 32, headers=admin)
        assert (missing.status, (await missing.json())["code"]) == (404, "key_not_found")
        customer = await client.post(
            "/v1/keys", json={"account": "acme"}, headers=_auth(harness.key)
        )
        assert (customer.status, (await customer.json())["code"]) == (403, "admin_required")
        assert len(harness.messages.list_api_keys()) == before

    run(harness, scenario)


def _cli(database_url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWITCHBOARD_DATABASE_URL": database_url, "SWITCHBOARD_VAR_DIR": str(tmp)}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "switchboard", "keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_lists_rotates_and_revokes_keys(
    harness: Harness, database_url: str, tmp_path: Path
) -> None:
    info, key = harness.messages.make_api_key("globex", START)
    listed = _cli(database_url, tmp_path, "list", "--account", "globex")
    assert listed.returncode == 0 and info.id in listed.stdout and key not in listed.stdout
    rotated = _cli(database_url, tmp_path, "rotate", info.prefix)
    assert rotated.returncode == 0, rotated.stderr
    successor = rotated.stdout.strip()
    assert harness.messages.key_owner(key) is None
    owner = harness.messages.key_owner(successor)
    assert owner is not None and owner.account_name == "globex"
    new_id = next(k.id for k in harness.messages.list_api_keys("globex") if k.revoked_at is None)
    revoked = _cli(database_url, tmp_path, "revoke", new_id)
    assert revoked.returncode == 0 and harness.messages.key_owner(successor) is None
    unknown = _cli(database_url, tmp_path, "revoke", "nosuchkey")
    assert unknown.returncode == 1 and "no API key" in unknown.stderr


def test_signing_secret_is_shown_once_and_the_old_one_signs_through_the_grace(
    harness: Harness,
) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        first = await client.post("/v1/webhook-secret", headers=_auth(harness.key))
        made = await first.json()
        assert first.status == 201 and made["previous_valid_until"] is None
        assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
        harness.clock.advance(60)
        second = await client.post("/v1/webhook-secret", headers=_auth(harness.key))
        rotated = await second.json()
        assert rotated["secret"] != made["secret"]
        assert rotated["previous_valid_until"] == (harness.clock.now + ROTATION_GRACE).isoformat()
        signing = SigningSecrets(harness.engine)
        acme = harness.messages.ensure_account("acme", START)
        now = harness.clock.now
        assert signing.read(acme, now) == (rotated["secret"], made["secret"])  # both sign
        assert signing.read(acme, now + ROTATION_GRACE) == (rotated["secret"],)  # grace over

    run(harness, scenario)
