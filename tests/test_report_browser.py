"""``index.html`` of the report of an unseen table, loaded in headless Chromium (Debian's
``chromium`` and ``chromium-driver``; selenium; nothing downloaded): no console error, every
section and figure there, the injected ``<script>`` shown as text and never run, and no request
for anything but the page itself.

Skipped only when Chromium is absent and ``IOMETA_REQUIRE_BROWSER`` is unset; with
``IOMETA_REQUIRE_BROWSER=1`` (CI) a missing browser fails the test.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from _unseen_table import INJECTED, INJECTED_NOTE, build_unseen

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRED = bool(os.environ.get("IOMETA_REQUIRE_BROWSER"))

#: installed before any script of the page could run: records alerts instead of blocking
TRAP = """
window.iometaAlerts = [];
for (const name of ['alert', 'confirm', 'prompt']) {
  window[name] = (msg) => { window.iometaAlerts.push(String(msg)); };
}
"""


def _need_browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if not missing:
        return
    why = (f"headless Chromium needs {', '.join(missing)} "
           "(apt-get install chromium chromium-driver)")
    if REQUIRED:
        pytest.fail(f"IOMETA_REQUIRE_BROWSER is set but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def driver():
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--disable-background-networking",
                "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    # browser: the console; performance: the DevTools Network events (every request made)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # the driver given explicitly: Selenium Manager never looks for or downloads a browser
    d = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    d.set_page_load_timeout(120)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def loaded(driver, tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    out = build_unseen(base / "table", base / "report")
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TRAP})
    driver.get_log("browser")  # start from an empty console and no recorded request
    driver.get_log("performance")
    page = out / "index.html"
    driver.get(page.as_uri())
    events = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    requests = [m["params"]["request"]["url"] for m in events
                if m.get("method") == "Network.requestWillBeSent"]
    return driver, out, page, requests


def test_no_console_error(loaded):
    driver, *_ = loaded
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == []
    assert driver.execute_script("return document.readyState") == "complete"
    assert driver.title == "iometa report"


def test_every_section_and_figure_is_shown(loaded):
    driver, out, *_ = loaded
    readme = (out / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"(?m)^## (.+)$", readme)
    shown = driver.execute_script(
        "return [...document.querySelectorAll('h2')].map(h => h.innerText.trim())")
    assert shown == headings and len(headings) >= 5
    for anchor in re.findall(r'<a id="([^"]+)"></a>', readme):
        visible = driver.execute_script(
            "const e = document.getElementById(arguments[0]);"
            "return e !== null && e.getBoundingClientRect().height > 0", anchor)
        assert visible, anchor
    figures = sorted((out / "figures").glob("*.svg"))
    sizes = driver.execute_script(
        "return [...document.querySelectorAll('svg')].map(s => {"
        "const r = s.getBoundingClientRect(); return [r.width, r.height]; })")
    assert len(sizes) == len(figures) == readme.count("![") >= 1
    for w, h in sizes:  # drawn, at a readable size, inside the 1280-px window
        assert 300 < w <= 1280 and h > 50
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 1280
    tables = driver.execute_script("return document.querySelectorAll('table').length")
    assert tables == len(re.findall(r"(?m)^\|(?:---\|)+$", readme))


def test_injected_script_is_text_and_never_runs(loaded):
    driver, *_ = loaded
    text = driver.execute_script("return document.body.innerText")
    assert INJECTED in text and INJECTED_NOTE in text
    assert "<img src=x onerror=window.iometaPwned=4>" in text
    assert driver.execute_script("return typeof window.iometaPwned") == "undefined"
    assert driver.execute_script("return window.iometaAlerts") == []
    assert driver.execute_script("return document.scripts.length") == 0
    assert driver.execute_script("return document.images.length") == 0


def test_nothing_is_requested_but_the_page(loaded):
    driver, _, page, requests = loaded
    # Resource Timing lists http(s) fetches; the DevTools log also lists file:// ones
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert requests == [page.as_uri()]
    nav = driver.execute_script(
        "return performance.getEntriesByType('navigation').map(e => e.name)")
    assert nav == [page.as_uri()]
