"""`/dashboard` in a real headless Chromium (Debian's chromium + chromium-driver, `make browser`):
it opens with an admin key, shows both simulated carriers, its rate figure moves while
messages flow, and its account's live campaigns progress (running, scheduled, held by quiet
hours; another account's never shown). A screenshot is saved under var/ for a person to look
at."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from switchboard.load import generated_messages, send_all
from switchboard.stack import Stack
from switchboard.wiring import utcnow
from tests.e2e.conftest import StackFactory, api_call

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "var" / "dashboard-e2e.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (`make browser` installs them)",
)


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless Chromium driven by the system chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dashboard_shows_both_carriers_and_its_rate_moves_while_messages_flow(
    make_stack: StackFactory, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    stack = make_stack(alpha_mps=150, beta_mps=150, undelivered=0.1)
    admin = stack.store.create_api_key("operators", utcnow(), is_admin=True)
    # Given the page opened with an admin key
    browser.get(stack.api_url + "/dashboard")
    browser.find_element(By.ID, "key").send_keys(admin)
    browser.find_element(By.ID, "open").click()
    wait = WebDriverWait(browser, 60)  # returns as soon as it holds: generous for a loaded host
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".carrier")) == 2)
    cards = browser.find_elements(By.CSS_SELECTOR, ".carrier")
    names = [e.get_attribute("data-name") or "" for e in cards]
    assert sorted(names) == ["alpha", "beta"]
    assert browser.find_element(By.ID, "connection").text == "live"

    def rate(name: str) -> float:
        text = browser.find_element(By.CSS_SELECTOR, f'.carrier[data-name="{name}"] .rate').text
        return float(text.replace(",", "") or 0)

    idle = rate("alpha") + rate("beta")
    # Campaigns start once the idle rate is read: started before, the running one's 10/s (and
    # "theirs") showed in the second frame, so `idle` depended on reading it within a second.
    _campaigns(stack, admin)
    # When messages flow
    bodies = generated_messages(1500, seed=5)
    sending = threading.Thread(
        target=lambda: asyncio.run(send_all(stack.api_url, stack.api_key, bodies, concurrency=16))
    )
    sending.start()
    seen: list[float] = []
    started = time.monotonic()
    while time.monotonic() < started + 40 and (
        len(set(seen)) < 3 or max(seen) <= 0 or time.monotonic() < started + 6
    ):  # at least 6 s of flow, so the screenshot's chart has a history
        seen.append(rate("alpha") + rate("beta"))
        time.sleep(0.5)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    sending.join()
    # Then the rate figure moved, within the carriers' limits, and the queues are listed
    assert idle == 0
    assert max(seen) > 0 and len(set(seen)) >= 3, seen
    assert max(seen) <= 2 * 150 * 1.2
    queues = set(_read(browser, QUEUES_JS))
    assert {"otp", "transactional", "marketing"} <= queues
    assert "MPS" in browser.find_element(By.CSS_SELECTOR, '.carrier[data-name="alpha"]').text

    # and the admin key's account's live campaigns are listed, the running one progressing
    def campaign(name: str, field: str) -> str:
        return str(_read(browser, CAMPAIGNS_JS)[name][field])

    # (the queue and campaign tables are rebuilt on every frame, so they are read in one
    # script, never element by element: a row found before a frame is stale after it)
    wait.until(lambda _d: len(_read(browser, CAMPAIGNS_JS)) >= 3)
    names = list(_read(browser, CAMPAIGNS_JS))
    assert sorted(names) == ["quiet", "tomorrow", "winter sale"]  # never "theirs", no draft
    wait.until(lambda _d: int(campaign("winter sale", "sent").replace(",", "")) > 0)
    assert campaign("winter sale", "total") == "400" and "/ 10" in campaign("winter sale", "rate")
    assert campaign("tomorrow", "eta").startswith("starts")
    assert campaign("quiet", "hold").startswith("60 held (1 zone) until")
    assert campaign("quiet", "sent") == "0"


# The rows of the tables the page rebuilds each frame, read in one script (one DOM state).
QUEUES_JS = """
return Array.from(document.querySelectorAll("#queues tr"), (row) => row.dataset.queue ?? null);
"""
CAMPAIGNS_JS = """
const rows = {};
for (const row of document.querySelectorAll("tr.campaign")) {
  const cells = {};
  for (const td of row.cells) for (const cls of td.classList) cells[cls] = td.innerText.trim();
  rows[row.cells[0].innerText.trim()] = cells;
}
return rows;
"""


def _read(browser: object, script: str) -> Any:
    """What `script` returns (JSON-like), run in the page in one go."""
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    return browser.execute_script(script)


def _campaigns(stack: Stack, admin: str) -> None:
    """The admin's account: one running (400 at 10/s: still running at the end), one starting
    tomorrow, one whose window opens in two hours (UK numbers, London on UTC in winter), a
    draft; and another account's one."""
    now = datetime.now(UTC)
    window = f"{now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}"
    audience = [f"+4474008{n:05d}" for n in range(400)]
    for name, extra, start in (
        ("winter sale", {"max_rate": 10}, True),
        ("tomorrow", {"start_at": f"{now + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"}, True),
        ("quiet", {"send_window": window}, True),
        ("draft", {}, False),
    ):
        body = {
            "name": name,
            "template": "Sale",
            "audience": audience[: 60 if extra.get("send_window") else 400],
            **extra,
        }
        status, created = api_call(stack, "POST", "/v1/campaigns", body, key=admin)
        assert status == 201, created
        if start:
            assert (
                api_call(stack, "POST", f"/v1/campaigns/{created['id']}/start", key=admin)[0] == 200
            )
    status, theirs = api_call(
        stack,
        "POST",
        "/v1/campaigns",
        {"name": "theirs", "template": "Hi", "audience": audience[:5]},
    )
    assert (
        status == 201 and api_call(stack, "POST", f"/v1/campaigns/{theirs['id']}/start")[0] == 200
    )
