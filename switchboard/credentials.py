"""Secrets from systemd credentials (`LoadCredential=`): one file per secret in
`$CREDENTIALS_DIRECTORY`, readable only by the service, never in its environment.

| file | fills | when |
|---|---|---|
| `secret_key` | `SWITCHBOARD_SECRET_KEY` | the variable is unset or empty |
| `otp_secret` | `SWITCHBOARD_OTP_SECRET` | the variable is unset or empty |
| `database_password` | the password of `SWITCHBOARD_DATABASE_URL` | the URL has none |
| `redis_password` | the password of `SWITCHBOARD_REDIS_URL` | the URL has none |

The rule: what the environment says explicitly wins (a set variable, a URL with a password of
its own), so a one-off `SWITCHBOARD_SECRET_KEY=… switchboard …` still works; the credential
fills what it leaves out. A file missing from the directory is no error (use the ones you
need); an empty file, an unreadable one, or a password for a URL that is not set is, naming
the file. One trailing newline is dropped (`echo secret > file` writes one).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

SECRET_FIELDS = ("secret_key", "otp_secret")
URL_PASSWORDS = {"database_url": "database_password", "redis_url": "redis_password"}


class CredentialError(ValueError):
    """A credential file that cannot be used, by path."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


def _read(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialError(path, f"unreadable credential ({exc.__class__.__name__})") from None
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise CredentialError(path, "empty credential")
    return value


def with_password(url: str, password: str) -> str:
    """`url` with `password` (percent-encoded) as its password; unchanged when it has one."""
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo if at else ''}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def apply_credentials(values: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    """`values` (settings by field name, from the environment) with the credentials of
    `directory` filled in by the rule above.

    Raises:
        CredentialError: naming the file that cannot be used.
    """
    filled = dict(values)
    for field in SECRET_FIELDS:
        path = directory / field
        if path.exists() and not filled.get(field):
            filled[field] = _read(path)
    for field, name in URL_PASSWORDS.items():
        path = directory / name
        if not path.exists():
            continue
        password = _read(path)
        url = str(filled.get(field) or "")
        if not url:
            variable = f"SWITCHBOARD_{field.upper()}"
            raise CredentialError(path, f"a password for {variable}, which is not set")
        filled[field] = with_password(url, password)
    return filled
