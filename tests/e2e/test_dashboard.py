"""`/dashboard` in a real headless Chromium (Debian's chromium + chromium-driver, `make browser`):
it opens with an admin key, shows both simulated carriers, and its rate figure moves while
messages flow. A screenshot is saved under var/ for a person to look at."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.load import generated_messages, send_all
from switchboard.wiring import utcnow
from tests.e2e.conftest import StackFactory

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
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
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
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".carrier")) == 2)
    cards = browser.find_elements(By.CSS_SELECTOR, ".carrier")
    names = [e.get_attribute("data-name") for e in cards]
    assert sorted(names) == ["alpha", "beta"]
    assert browser.find_element(By.ID, "connection").text == "live"

    def rate(name: str) -> float:
        text = browser.find_element(By.CSS_SELECTOR, f'.carrier[data-name="{name}"] .rate').text
        return float(text.replace(",", "") or 0)

    idle = rate("alpha") + rate("beta")
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
    rows = browser.find_elements(By.CSS_SELECTOR, "#queues tr")
    queues = {e.get_attribute("data-queue") for e in rows}
    assert {"otp", "transactional", "marketing"} <= queues
    assert "MPS" in browser.find_element(By.CSS_SELECTOR, '.carrier[data-name="alpha"]').text
