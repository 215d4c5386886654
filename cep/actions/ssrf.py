"""SSRF guard: a webhook may only reach publicly routable addresses (or allowlisted CIDRs).

A rule author controls the webhook URL, so without a guard the service would POST to
its own metadata endpoint (169.254.169.254), to Redis on loopback or to anything on the
private network. The policy is smokescreen's default (what Stripe uses):

* the check is on the **resolved address**, never on the spelling: `127.1`, `2130706433`,
  `0x7f.1`, `0177.0.0.1` are all 127.0.0.1 once parsed the way the C library does
  (`inet_aton`), and names are resolved before checking;
* refused: anything not global unicast (loopback, RFC 1918, CGNAT 100.64/10, link-local
  169.254/16 incl. the metadata address, multicast, reserved, documentation ranges,
  `0.0.0.0`, `::`, `::1`, ULA fc00::/7, fe80::/10) and IPv6 forms that embed IPv4
  (IPv4-mapped and -compatible are unwrapped and checked as IPv4; NAT64 64:ff9b::/96,
  6to4 2002::/16 and Teredo 2001::/32 are refused outright);
* `CEP_WEBHOOK_ALLOWLIST` (comma-separated CIDRs) admits addresses the policy refuses,
  for receivers on a private network or on this host;
* it runs at registration (a clear error early) **and at every connect**: the connector
  resolves the name, checks every address, then connects to the checked address itself,
  so a DNS answer that changes between the check and the connect (rebinding) cannot
  redirect the request. TLS still verifies the certificate against the URL's host name.
* redirects are never followed (a 3xx is a failed attempt), so a receiver cannot bounce
  the request to an internal address.
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import anyio
import httpcore
import httpx

from cep.errors import CepError

__all__ = [
    "GuardedTransport",
    "SsrfError",
    "SsrfGuard",
    "parse_allowlist",
    "system_resolver",
]

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]

_DENY_V4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)]
_DENY_V6 = [ipaddress.ip_network(n) for n in (
    "::/128", "::1/128", "::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48",
    "100::/64", "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10",
    "fec0::/10", "ff00::/8",
)]
METADATA = ipaddress.ip_address("169.254.169.254")


class SsrfError(CepError):
    """A webhook URL or the address it resolves to is not allowed."""


def parse_allowlist(text: str | Iterable[str] | None) -> list[ipaddress._BaseNetwork]:
    """CIDRs from `CEP_WEBHOOK_ALLOWLIST` (comma or whitespace separated)."""
    if text is None:
        return []
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise SsrfError(f"CEP_WEBHOOK_ALLOWLIST: {item!r} is not a CIDR") from None
    return out


def literal_ip(host: str) -> IP | None:
    """The address a host written as an IP literal means (incl. legacy IPv4 forms)."""
    h = host.strip("[]")
    if "%" in h:  # an IPv6 zone id (fe80::1%eth0): the address part decides
        h = h.split("%", 1)[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    try:  # 127.1, 2130706433, 0x7f.0.0.1, 0177.0.0.1: what inet_aton (and curl) accept
        return ipaddress.IPv4Address(socket.inet_aton(h))
    except (OSError, UnicodeError, ValueError):
        return None


def unwrap(ip: IP) -> IP:
    """IPv4-mapped (::ffff:a.b.c.d) and -compatible (::a.b.c.d) IPv6 as the IPv4 inside."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if int(ip) >> 32 == 0 and int(ip) > 1:  # ::/96 compatible form, not :: or ::1
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for `host` (blocking)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


@dataclass
class SsrfGuard:
    """The policy plus the resolver (a hook, so tests can make names resolve anywhere)."""

    allowlist: Sequence[ipaddress._BaseNetwork] = ()
    resolver: Resolver = system_resolver
    require_https: bool = True
    schemes: tuple[str, ...] = field(default=("http", "https"))

    def refusal(self, ip: IP) -> str | None:
        """Why `ip` may not be reached (None: it may)."""
        ip = unwrap(ip)
        if any(ip in n for n in self.allowlist if n.version == ip.version):
            return None
        if ip == METADATA:
            return f"{ip} is the cloud metadata address"
        deny = _DENY_V4 if ip.version == 4 else _DENY_V6
        for n in deny:
            if ip in n:
                return f"{ip} is in {n} (not publicly routable)"
        if not ip.is_global:
            return f"{ip} is not a global unicast address"
        return None

    def resolve(self, host: str) -> list[IP]:
        """The addresses of `host` (a literal is itself); SsrfError if it does not resolve."""
        lit = literal_ip(host)
        if lit is not None:
            return [lit]
        try:
            addrs = self.resolver(host)
        except (OSError, UnicodeError) as e:
            raise SsrfError(f"cannot resolve {host!r}: {e}") from None
        out = []
        for a in addrs:
            ip = literal_ip(a)
            if ip is None:
                raise SsrfError(f"resolver gave {a!r} for {host!r}, not an address")
            out.append(ip)
        if not out:
            raise SsrfError(f"{host!r} has no address")
        return out

    def check_addresses(self, host: str) -> list[IP]:
        """Resolve and check every address; the checked list, or SsrfError."""
        ips = self.resolve(host)
        for ip in ips:
            why = self.refusal(ip)
            if why is not None:
                raise SsrfError(f"webhook host {host!r} resolves to {ip}: {why}")
        return ips

    def check_url(self, url: str, resolve: bool = True) -> str | None:
        """Registration check; raises SsrfError, returns a warning (name did not resolve)."""
        try:
            u = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as e:
            raise SsrfError(f"invalid webhook URL {url!r}: {e}") from None
        if u.scheme not in self.schemes:
            raise SsrfError(f"webhook URL must be http or https, not {u.scheme or 'relative'}")
        if not u.host:
            raise SsrfError(f"webhook URL {url!r} has no host")
        lit = literal_ip(u.host)
        if lit is not None:
            why = self.refusal(lit)
            if why is not None:
                raise SsrfError(f"webhook URL {url!r}: {why}")
            self._check_scheme(u, [lit])
            return None
        if not resolve:
            return None
        try:
            ips = self.check_addresses(u.host)
        except SsrfError as e:
            if str(e).startswith("cannot resolve"):
                if self.require_https and u.scheme != "https":
                    raise SsrfError(f"webhook URL {url!r} must use https") from None
                return f"{e}; it is checked again at every delivery"
            raise
        self._check_scheme(u, ips)
        return None

    def _check_scheme(self, u: httpx.URL, ips: Sequence[IP]) -> None:
        """https is required unless every address is allowlisted (a trusted network)."""
        if u.scheme == "https" or not self.require_https:
            return
        allowed = all(
            any(unwrap(ip) in n for n in self.allowlist if n.version == unwrap(ip).version)
            for ip in ips
        )
        if not allowed:
            raise SsrfError(
                f"webhook URL {str(u)!r} must use https (plain http only to addresses in "
                "CEP_WEBHOOK_ALLOWLIST)"
            )


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address (no second lookup)."""

    def __init__(self, guard: SsrfGuard, inner: httpcore.AsyncNetworkBackend) -> None:
        self.guard = guard
        self.inner = inner

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first checked address of `host`."""
        ips = await anyio.to_thread.run_sync(self.guard.check_addresses, host)
        return await self.inner.connect_tcp(
            str(unwrap(ips[0])), port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never a webhook target."""
        raise SsrfError("webhooks never connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        """Delegate."""
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose every TCP connect goes through the guard (pinned address)."""

    def __init__(self, guard: SsrfGuard, **kwargs: typing.Any) -> None:
        super().__init__(**kwargs)
        # httpcore's pool takes a network backend; httpx does not expose it, so swap it in.
        self._pool._network_backend = _GuardedBackend(guard, httpcore.AnyIOBackend())
