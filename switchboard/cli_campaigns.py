"""`switchboard campaigns create|watch`: the campaign API for operators, over HTTP.

Creates a campaign and streams its CSV audience (PUT …/audience: the file is never read into
memory), optionally starts it; `watch` polls GET /v1/campaigns/{id} and draws a rich progress
bar of the same counts, until the campaign is done.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from switchboard.settings import Settings

campaigns_app = typer.Typer(help="Marketing campaigns (over the HTTP API)", no_args_is_help=True)
FINAL = ("delivered", "undelivered", "expired", "failed", "rejected", "canceled")
DONE_STATES = ("completed", "canceled")


def _api_url(api_url: str | None) -> str:
    if api_url:
        return api_url.rstrip("/")
    settings = Settings()
    return f"http://{settings.api_host}:{settings.api_port}"


def _call(
    method: str,
    url: str,
    key: str,
    body: Any = None,
    data: Any = None,
    content_type: str = "application/json",
    length: int | None = None,
) -> Any:
    """One API call; its JSON answer. A problem+json answer exits with its code and detail."""
    headers = {"Authorization": f"Bearer {key}"}
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = content_type
    if length is not None:
        headers["Content-Length"] = str(length)
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            problem = json.loads(error.read())
            message = f"{error.code} {problem.get('code')}: {problem.get('detail')}"
        except ValueError:
            message = f"{error.code} {error.reason}"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1) from None


_KEY = typer.Option(..., "--key", help="API key (Bearer)")
_URL = typer.Option(None, "--api-url", help="default: http://SWITCHBOARD_API_HOST:PORT")


@campaigns_app.command("create")
def create(
    csv_file: Path = typer.Option(..., "--csv", exists=True, dir_okay=False, help="audience"),
    template: str = typer.Option(..., "--template", help='e.g. "Hi {{first_name}}, 20% off"'),
    sender: str | None = typer.Option(None, "--from", help="sender id or number"),
    name: str = typer.Option("", "--name"),
    start_at: str | None = typer.Option(None, "--start-at", help="RFC 3339 (default: now)"),
    window: str | None = typer.Option(None, "--window", help="local hours, e.g. 09:00-20:00"),
    max_rate: float | None = typer.Option(None, "--max-rate", help="messages per second"),
    start: bool = typer.Option(False, "--start", help="start it once the audience is loaded"),
    key: str = _KEY,
    api_url: str | None = _URL,
) -> None:
    """Create a campaign, upload its CSV audience (streamed), print what was loaded."""
    base = _api_url(api_url)
    body: dict[str, Any] = {"template": template, "name": name}
    for field, value in (
        ("from", sender),
        ("start_at", start_at),
        ("send_window", window),
        ("max_rate", max_rate),
    ):
        if value is not None:
            body[field] = value
    campaign = _call("POST", f"{base}/v1/campaigns", key, body)
    with csv_file.open("rb") as audience:
        loaded = _call(
            "PUT",
            f"{base}/v1/campaigns/{campaign['id']}/audience",
            key,
            data=audience,
            content_type="text/csv",
            length=os.fstat(audience.fileno()).st_size,
        )
    typer.echo(json.dumps({"id": campaign["id"], **loaded}, indent=2))
    if start:
        _call("POST", f"{base}/v1/campaigns/{campaign['id']}/start", key)
        typer.echo(f"started; follow it with: switchboard campaigns watch {campaign['id']}")


@campaigns_app.command("action")
def action(
    campaign_id: str = typer.Argument(...),
    verb: str = typer.Argument(..., help="start | pause | resume | cancel"),
    key: str = _KEY,
    api_url: str | None = _URL,
) -> None:
    """Start, pause, resume or cancel a campaign."""
    answer = _call("POST", f"{_api_url(api_url)}/v1/campaigns/{campaign_id}/{verb}", key)
    typer.echo(f"{campaign_id}: {answer['state']}")


def describe(campaign: dict[str, Any]) -> str:
    """One line of counts, rate, cost and ETA."""
    counts = campaign.get("counts", {})
    parts = [f"{status} {n}" for status, n in sorted(counts.items())]
    eta = campaign.get("eta_seconds")
    return (
        f"[{campaign['state']}] {', '.join(parts) or 'no messages'} · "
        f"{campaign.get('send_rate', 0)}/s · cost {campaign.get('cost')} "
        f"{campaign.get('currency') or ''} · ETA {'-' if eta is None else f'{eta}s'}"
    )


@campaigns_app.command("watch")
def watch(
    campaign_id: str = typer.Argument(...),
    interval: float = typer.Option(1.0, "--interval", help="seconds between polls"),
    key: str = _KEY,
    api_url: str | None = _URL,
) -> None:
    """A live progress bar of a campaign until it is completed or canceled and all is final
    (not on a terminal, e.g. into a log: a line of counts whenever they change)."""
    url = f"{_api_url(api_url)}/v1/campaigns/{campaign_id}"
    console = Console(stderr=True)
    if not console.is_terminal:  # a bar drawn at 80 columns into a file cut every field to "…"
        campaign = _watch_lines(url, key, interval)
        typer.echo(describe(campaign))
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[line]}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("sent", total=None, line="")
        while True:
            campaign = _call("GET", url, key)
            counts = campaign.get("counts", {})
            total = sum(counts.values()) or None
            final = sum(counts.get(s, 0) for s in FINAL)
            progress.update(task, total=total, completed=final, line=describe(campaign))
            if _done(campaign):
                break
            time.sleep(interval)
    typer.echo(describe(campaign))


def _done(campaign: dict[str, Any]) -> bool:
    """Completed or canceled, and every message final: released, sent and every receipt in."""
    counts = campaign.get("counts", {})
    final = sum(counts.get(s, 0) for s in FINAL)
    return campaign["state"] in DONE_STATES and final == sum(counts.values())


def _watch_lines(url: str, key: str, interval: float) -> dict[str, Any]:
    """Poll until done, writing the counts line to stderr each time it changes; the last
    campaign seen."""
    last = ""
    while True:
        campaign: dict[str, Any] = _call("GET", url, key)
        if _done(campaign):
            return campaign
        line = describe(campaign)
        if line != last:
            typer.echo(line, err=True)
            last = line
        time.sleep(interval)
