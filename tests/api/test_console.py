"""The console in headless Debian chromium: write a rule in the editor, see a live match.

The screenshot is saved as a test artifact in test-artifacts/console.png.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import ADMIN
from .webdriver import Browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_console_registers_a_rule_and_shows_a_live_match(make_service) -> None:
    svc = make_service()
    b = Browser()
    try:
        b.get(svc.url + "/")
        b.type("#key", ADMIN)
        b.click("#connect")
        b.wait("document.querySelector('#who').textContent.includes('tenant default')")
        b.wait("document.querySelector('#feed-state').textContent.includes('live')")
        # a typo is underlined at its line and column as you type
        b.type("#source", "SEARCH big_payment\nFROM payments\nWHER amount > 100")
        b.wait("document.querySelectorAll('#errors li').length > 0")
        assert b.js("return document.querySelector('#errors li').textContent").startswith("3:")
        assert b.wait("document.querySelector('#highlight mark.err')")
        b.clear("#source")
        b.type("#source", "SEARCH big_payment\nFROM payments\nWHERE amount > 100\n"
                          "EMIT card_id, amount")
        b.wait("!document.querySelector('#register').disabled")
        b.click("#register")
        b.wait("document.querySelector('#register-result').textContent.includes('created')")
        b.wait("document.querySelector('#graph circle')")
        b.wait("[...document.querySelectorAll('#statements td')]"
               ".some(td => td.textContent === 'running')")
        with svc.client() as c:
            r = c.post("/v1/streams/payments/events",
                       json=[{"card_id": "c1", "amount": 5}, {"card_id": "c2", "amount": 750}])
            assert r.status_code == 200
        b.wait("[...document.querySelectorAll('#matches tr.match')]"
               ".some(tr => tr.textContent.includes('big_payment')"
               " && tr.textContent.includes('750'))")
        b.wait("document.querySelectorAll('#lag tbody tr').length > 0", timeout=10)
        shot = b.screenshot(ARTIFACTS / "console.png")
        assert shot.stat().st_size > 10_000
    finally:
        b.close()
