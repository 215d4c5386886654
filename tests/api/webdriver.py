"""A minimal W3C WebDriver client over httpx, for Debian's chromium + chromedriver.

No selenium/playwright download: the browser is the distribution's package. `ensure()`
installs `chromium` and `chromium-driver` with apt-get when they are missing (CI runs as
root) and fails loudly when that is impossible.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cep.store.redisproc import free_port

__all__ = ["Browser", "ensure"]

ELEMENT = "element-6066-11e4-a6e6-4a4c1c4d2b12"


def ensure() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installing them with apt-get if needed."""
    def found() -> tuple[str | None, str | None]:
        return shutil.which("chromium"), shutil.which("chromedriver")

    browser, driver = found()
    if browser and driver:
        return browser, driver
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True,
                       timeout=300)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
                              capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"chromium is needed for the console test and could not be installed: {e}",
                    pytrace=False)
    browser, driver = found()
    if not (browser and driver):
        pytest.fail("chromium is needed for the console test: `apt-get install chromium "
                    f"chromium-driver` failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}",
                    pytrace=False)
    return browser, driver


class Browser:
    """One headless chromium session driven through chromedriver."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        browser, driver = ensure()
        self.port = free_port()
        self.proc = subprocess.Popen([driver, f"--port={self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60,
                                 trust_env=False)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.http.get("/status").json()["value"]["ready"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": browser,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--no-proxy-server"]}}}}
        r = self.http.post("/session", json=caps).json()
        if "sessionId" not in r.get("value", {}):
            self.close()
            raise RuntimeError(f"cannot start chromium: {r}")
        self.sid = r["value"]["sessionId"]

    def _cmd(self, method: str, path: str, body: dict | None = None) -> Any:
        r = self.http.request(method, f"/session/{self.sid}{path}", json=body)
        v = r.json().get("value")
        if r.status_code >= 400:
            raise RuntimeError(f"webdriver {path}: {v}")
        return v

    def get(self, url: str) -> None:
        """Navigate."""
        self._cmd("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        """An element id by CSS selector."""
        ref = self._cmd("POST", "/element", {"using": "css selector", "value": css})
        return ref.get(ELEMENT) or next(iter(ref.values()))

    def type(self, css: str, text: str) -> None:
        """Type into an element (real key events, so `input` handlers run)."""
        self._cmd("POST", f"/element/{self.find(css)}/value", {"text": text})

    def clear(self, css: str) -> None:
        """Clear an input."""
        self._cmd("POST", f"/element/{self.find(css)}/clear", {})

    def click(self, css: str) -> None:
        """Click an element."""
        self._cmd("POST", f"/element/{self.find(css)}/click", {})

    def js(self, script: str, *args: Any) -> Any:
        """Run JavaScript and return its value."""
        return self._cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait(self, script: str, timeout: float = 15.0) -> Any:
        """Poll a JS expression until truthy."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.js(f"return ({script});")
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"browser: {script!r} not true within {timeout}s")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._cmd("GET", "/screenshot")))
        return path

    def close(self) -> None:
        """End the session and chromedriver."""
        try:
            if getattr(self, "sid", None):
                self.http.delete(f"/session/{self.sid}")
        except httpx.HTTPError:
            pass
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
