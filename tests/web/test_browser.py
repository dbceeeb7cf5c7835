"""The status page in a real browser: headless Chromium driven by Selenium (Debian's
``chromium`` + ``chromium-driver``, installed by .ci/run; skipped with the reason where absent).

A world whose QAD refused every post (closed period) has parked commands. The browser opens the
overview, a flow and the parked list (screenshots saved under test-artifacts/screenshots/, also
one at phone width); the period is reopened; the browser clicks Retry on a parked sales order
and sees it posted, and the QAD simulator holds the document.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from engine.web.server import serve_context, serving
from tests.web.conftest import parked_world

selenium = pytest.importorskip("selenium", reason="selenium not installed (test extra)")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("ML_CONNECTOR_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    return None


CHROMIUM = _binary("chromium", "chromium-browser")
DRIVER = _binary("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; .ci/run installs them when it runs as root)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _driver(profile: Path) -> Any:
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=Service(executable_path=str(DRIVER)))


async def test_click_retry_on_a_parked_order_and_see_it_posted(make_world, tmp_path) -> None:
    started = time.monotonic()
    marks: dict[str, float] = {}
    SHOTS.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download anything
    async with (
        parked_world(make_world) as (w, cfg),
        serve_context(Path(cfg.engine.db), cfg, None, demo=True) as ctx,
        serving(ctx, f"127.0.0.1:{_free_port()}") as url,
    ):
        marks["world"] = time.monotonic() - started
        driver = await asyncio.to_thread(_driver, tmp_path / "chromium-profile")
        marks["chromium"] = time.monotonic() - started
        try:

            def browse() -> str:
                driver.get(url)
                assert "Overview" in driver.title
                assert driver.find_elements(By.CSS_SELECTOR, '[data-flow="orders:NA"]')
                driver.save_screenshot(str(SHOTS / "overview.png"))
                driver.find_element(By.LINK_TEXT, "amazon.orders").click()
                WebDriverWait(driver, 30).until(ec.title_contains("amazon.orders"))
                assert "Events and commands" in driver.page_source
                driver.save_screenshot(str(SHOTS / "flow-amazon-orders.png"))
                driver.find_element(By.LINK_TEXT, "Parked").click()
                WebDriverWait(driver, 30).until(ec.title_contains("Parked"))
                rows = driver.find_elements(By.CSS_SELECTOR, "tr.parked-row")
                assert rows, "no parked row on the page"
                driver.save_screenshot(str(SHOTS / "parked.png"))
                driver.set_window_size(390, 844)  # a phone
                driver.save_screenshot(str(SHOTS / "parked-phone.png"))
                # Every row's Retry and Dismiss on screen: no horizontal scrolling to act.
                width = driver.get_window_rect()["width"]
                buttons = driver.find_elements(By.CSS_SELECTOR, "tr.parked-row button")
                assert buttons and all(b.is_displayed() for b in buttons)
                assert all(b.rect["x"] + b.rect["width"] <= width for b in buttons), [
                    (b.text, b.rect) for b in buttons[:4]
                ]
                driver.set_window_size(1280, 1000)
                form = driver.find_element(
                    By.XPATH,
                    "//form[@action='/actions/retry']"
                    "[input[@name='command_id'][starts-with(@value, 'qad.sales_order.create')]]",
                )
                command_id = form.find_element(By.NAME, "command_id").get_attribute("value")
                form.find_element(By.NAME, "operator").send_keys("Selenium")
                assert command_id
                return command_id

            command_id = await asyncio.to_thread(browse)
            assert w.qad.sales_orders() == []
            w.qad.faults.clear()  # the accountant reopens the period

            def retry() -> str:
                form = driver.find_element(
                    By.XPATH, f"//form[input[@name='command_id'][@value='{command_id}']]"
                )
                form.find_element(By.CSS_SELECTOR, "button.retry").click()
                # The POST posts to QAD before it redirects back: wait for the new page.
                flash = (
                    WebDriverWait(driver, 30)
                    .until(ec.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
                    .text
                )
                driver.save_screenshot(str(SHOTS / "parked-after-retry.png"))
                driver.get(f"{url}record?key={command_id.split(':')[1]}")
                driver.save_screenshot(str(SHOTS / "record-story.png"))
                assert "retry by Selenium from 127.0.0.1" in driver.page_source
                return str(flash)

            flash = await asyncio.to_thread(retry)
        finally:
            await asyncio.to_thread(driver.quit)
        assert "re-queued 1 command(s); dispatched: ok 1" in flash, flash
        posted = w.qad.sales_orders()  # the QAD simulator holds the document now
        assert len(posted) == 1, posted
    marks["done"] = time.monotonic() - started
    print(
        f"\nscreenshots: {SHOTS}; seconds: {marks}"
    )  # overview, a flow, the parked list (+ phone, after retry)
    for name in ("overview", "flow-amazon-orders", "parked", "parked-phone", "record-story"):
        assert (SHOTS / f"{name}.png").stat().st_size > 5000, name
    assert time.monotonic() - started < 60
