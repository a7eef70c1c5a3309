"""PNG screenshot of an HTML file in headless Chromium (Debian's ``chromium`` and
``chromium-driver`` packages; selenium from the ``test`` extra; nothing is downloaded).

Usage::

    python docs/screenshots.py reports/index.html /tmp/report.png
    python docs/screenshots.py docs/_build/html/index.html /tmp/docs.png --height 1000
    python docs/screenshots.py reports/index.html /tmp/full.png --full-page
    python docs/screenshots.py reports/index.html /tmp/rows.png --anchor excluded_rows

The window is 1280 CSS pixels wide (``--width``); the picture is the first ``--height``
pixels of the page (900 by default) or, with ``--full-page``, the whole page (capped at
``--max-height``), from the top or from the element ``--anchor`` names. The chromedriver is given explicitly, so Selenium Manager never looks for
(or downloads) a browser.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser(width: int = 1280, height: int = 900):
    """A headless Chromium driven by selenium through :data:`CHROMEDRIVER`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--window-size={width},{height}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 900,
               full_page: bool = False, max_height: int = 16000,
               anchor: str | None = None) -> Path:
    """Load ``html`` (a local file) and write a PNG of it to ``png`` (from the top of the
    page, or from the element with id ``anchor``)."""
    driver = browser(width, height)
    try:
        driver.get(Path(html).resolve().as_uri())
        top = 0
        if anchor:
            top = driver.execute_script(
                "const e = document.getElementById(arguments[0]);"
                "return e === null ? null : Math.floor(e.getBoundingClientRect().top"
                " + window.scrollY)", anchor)
            if top is None:
                raise SystemExit(f"{html}: no element with id {anchor!r}")
        if full_page:
            total = driver.execute_script(
                "return Math.ceil(document.documentElement.scrollHeight)")
            height = min(int(total) - top, max_height)
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": top, "width": width, "height": height, "scale": 1}})
        png = Path(png)
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(base64.b64decode(shot["data"]))
    finally:
        driver.quit()
    return png


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("html", type=Path, help="the HTML file to load")
    p.add_argument("png", type=Path, help="the PNG file to write")
    p.add_argument("--width", type=int, default=1280, help="window width in px (1280)")
    p.add_argument("--height", type=int, default=900, help="picture height in px (900)")
    p.add_argument("--full-page", action="store_true", help="the whole page")
    p.add_argument("--anchor", default=None,
                   help="start at the element with this id (e.g. excluded_rows)")
    p.add_argument("--max-height", type=int, default=16000,
                   help="cap of --full-page in px (16000)")
    a = p.parse_args(argv)
    if not a.html.is_file():
        p.error(f"{a.html}: no such file")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).exists():
            p.error(f"{exe} is missing: apt-get install chromium chromium-driver")
    out = screenshot(a.html, a.png, a.width, a.height, a.full_page, a.max_height,
                     a.anchor)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
