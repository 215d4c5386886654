"""SSRF corpus: refused at registration and at connect; rebinding and redirects cannot escape.

Traffic only ever goes to a receiver on 127.0.0.1; names are made to resolve elsewhere
through the guard's resolver hook, so nothing here sends a packet off this machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from cep.actions.ssrf import GuardedTransport, SsrfError, SsrfGuard, parse_allowlist

from .receiver import Answer, Receiver

CORPUS = [
    "https://127.1/",
    "https://2130706433/",
    "https://0x7f.0.0.1/",
    "https://0177.0.0.1/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::127.0.0.1]/",
    "https://[::1]/",
    "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1%25eth0]/",
    "https://10.0.0.5/",
    "https://192.168.1.1/",
    "https://172.16.0.1/",
    "https://100.64.0.1/",
    "https://0.0.0.0/",
    "https://[fc00::1]/",
    "https://[64:ff9b::7f00:1]/",
    "https://[2002:7f00:1::]/",
    "https://private.test/",  # resolves to 10.0.0.5 (resolver hook)
    "https://mixed.test/",  # one public and one private record
    "ftp://example.com/",
    "https:///nohost",
]
NAMES = {"private.test": ["10.0.0.5"], "mixed.test": ["93.184.216.34", "192.168.0.10"],
         "public.test": ["93.184.216.34"]}


def resolver(table: dict[str, list[str]]) -> Callable[[str], list[str]]:
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]
    return resolve


@pytest.mark.parametrize("url", CORPUS)
def test_corpus_is_refused_at_registration(url: str) -> None:
    with pytest.raises(SsrfError):
        SsrfGuard(resolver=resolver(NAMES)).check_url(url)


def test_public_addresses_pass_and_http_needs_the_allowlist() -> None:
    g = SsrfGuard(resolver=resolver(NAMES))
    assert g.check_url("https://public.test/hook") is None
    assert g.check_url("https://93.184.216.34/") is None
    with pytest.raises(SsrfError, match="https"):
        g.check_url("http://public.test/hook")
    warn = g.check_url("https://unknown.test/")  # unresolvable now: checked at every send
    assert warn is not None and "checked again" in warn


def test_allowlist_admits_loopback_in_every_spelling() -> None:
    g = SsrfGuard(allowlist=parse_allowlist("127.0.0.1/32, 10.1.0.0/16"))
    for url in ("http://127.0.0.1:8080/", "http://127.1/", "http://2130706433/",
                "http://[::ffff:127.0.0.1]/", "http://10.1.2.3/"):
        assert g.check_url(url) is None, url
    with pytest.raises(SsrfError):
        g.check_url("http://127.0.0.2/")
    with pytest.raises(SsrfError):
        g.check_url("https://169.254.169.254/")
    with pytest.raises(SsrfError):
        parse_allowlist("not-a-cidr")


async def _post(guard: SsrfGuard, url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=GuardedTransport(guard), follow_redirects=False,
                                 trust_env=False, timeout=5) as client:
        return await client.post(url, content=b"{}")


def test_connect_refuses_loopback_without_the_allowlist() -> None:
    with Receiver() as rx:
        for host in ("127.0.0.1", "127.1", "2130706433", "[::ffff:127.0.0.1]", "localhost"):
            with pytest.raises(SsrfError):
                asyncio.run(_post(SsrfGuard(), f"http://{host}:{rx.port}/x"))
        assert rx.hits == []
        ok = asyncio.run(_post(SsrfGuard(parse_allowlist("127.0.0.0/8")),
                               f"http://127.0.0.1:{rx.port}/x"))
        assert ok.status_code == 200 and len(rx.hits) == 1


def test_rebinding_name_is_refused_at_connect() -> None:
    """Public at registration, loopback at delivery: the connect-time check refuses it."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]])
    g = SsrfGuard(resolver=lambda host: next(answers))
    with Receiver() as rx:
        assert g.check_url(f"https://rebind.test:{rx.port}/x") is None
        with pytest.raises(SsrfError, match=r"127\.0\.0\.1"):
            asyncio.run(_post(g, f"http://rebind.test:{rx.port}/x"))
        assert rx.hits == []


def test_the_checked_address_is_the_one_connected_to() -> None:
    """A resolver that would change its answer after the check is asked exactly once."""
    calls: list[str] = []

    def flip(host: str) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.0.0.5"]

    g = SsrfGuard(allowlist=parse_allowlist("127.0.0.1/32"), resolver=flip)
    with Receiver() as rx:
        resp = asyncio.run(_post(g, f"http://pinned.test:{rx.port}/x"))
        assert resp.status_code == 200 and calls == ["pinned.test"]
        assert rx.hits[0].headers["host"] == f"pinned.test:{rx.port}"


def test_redirect_to_a_private_address_is_not_followed() -> None:
    with Receiver() as rx, Receiver() as target:
        rx.respond = lambda hit: Answer(302, {"location": f"{target.url}/meta"})
        resp = asyncio.run(_post(SsrfGuard(parse_allowlist("127.0.0.1/32")), f"{rx.url}/x"))
        assert resp.status_code == 302 and target.hits == []
