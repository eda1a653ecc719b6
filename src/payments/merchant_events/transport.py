"""The HTTP clients that POST the shop's events, and where they may connect.

An endpoint's URL was checked when it was saved (payments.merchant_events.urls), but a
host name can resolve anywhere later. So every connection is checked again when it is
made, on the address actually dialled (httpx-secure): https to a public address; with
`allow_private` also to private and loopback ones, and http only to those. Link-local
addresses (cloud metadata services live there), multicast, unspecified and reserved
ones are refused always. The check sees the address, not the scheme, so each scheme has
its own client with its own rule.

Redirects are never followed: a 3xx is a failed attempt, so a receiver cannot send the
service on to an address it would not have been allowed to name.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

import certifi
import httpx
import structlog
from httpx_secure import SSRFProtectionError, httpx_ssrf_protection

log = structlog.get_logger(__name__)

_NAT64 = IPv6Network("64:ff9b::/96")
# Cloud metadata services outside link-local (AWS's IPv6 one is a unique local address).
_METADATA = frozenset({ip_address("fd00:ec2::254")})


def _user_agent() -> str:
    try:
        return f"payments-webhooks/{version('payments')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "payments-webhooks/0"


USER_AGENT = _user_agent()


@dataclass(frozen=True)
class Answer:
    """What one POST came to: the status code, or why there was none."""

    status_code: int | None
    error: str | None
    duration_ms: int


def allowed(address: IPv4Address | IPv6Address, *, allow_private: bool) -> bool:
    """Whether events may be sent to `address` (IPv4 inside IPv6 judged as the IPv4)."""
    address = _embedded(address)
    if (
        address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address in _METADATA
    ):
        return False
    if address.is_loopback:  # before `is_reserved`: ::1 is in IPv6's reserved ::/8
        return allow_private
    if address.is_reserved:
        return False
    if address.is_global:
        return True
    return allow_private and address.is_private


def _embedded(address: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4): it is where it leads."""
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(address.packed[-4:])
    if address.sixtofour is not None:
        return address.sixtofour
    return address


@functools.cache
def _tls() -> ssl.SSLContext:
    """The certificate store, loaded once per process: loading it is most of what making a
    client costs, and every start of the service makes two."""
    return ssl.create_default_context(cafile=certifi.where())


class Transport:
    """One client per scheme, each checking the addresses it connects to; `post` never
    raises for what the endpoint or the network did, it answers what happened."""

    def __init__(self, *, allow_private: bool, timeout_seconds: float, connections: int) -> None:
        self._timeout = timeout_seconds
        self._https = self._client(connections, public=not allow_private)
        # Without allow_private, http is allowed nowhere: no client, refused before connecting.
        self._http = self._client(connections, public=None) if allow_private else None

    def _client(self, connections: int, *, public: bool | None) -> httpx.AsyncClient:
        """`public`: True, public addresses only; False, public, private and loopback;
        None, private and loopback only."""
        client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(self._timeout),
            limits=httpx.Limits(max_connections=connections),
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
            trust_env=False,  # no proxy from the environment: connections go where checked
            verify=_tls(),
        )

        def check(_host: str, address: IPv4Address | IPv6Address, _port: int) -> bool:
            if public is None:
                return allowed(address, allow_private=True) and not _embedded(address).is_global
            return allowed(address, allow_private=not public)

        return httpx_ssrf_protection(
            client, check_globally_reachable=public is True, custom_validator=check
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` to `url`, within the timeout in all (connecting, sending and the
        status line; the response's body is not read)."""
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            client = self._client_for(url)
            async with asyncio.timeout(self._timeout):
                request = client.build_request("POST", url, content=body, headers=headers)
                response = await client.send(request, stream=True)
                status_code = response.status_code
                await response.aclose()
        except _Refused as exc:
            error = f"not sent: {exc}"
        except (SSRFProtectionError, httpx.ConnectError) as exc:
            # One answer for both: an admin reading it must not learn which internal
            # addresses and ports answer (the address check connects before it refuses).
            log.info("merchant_event.unreachable", error=str(exc) or type(exc).__name__)
            error = _UNREACHABLE
        except (TimeoutError, httpx.TimeoutException):
            error = f"timed out after {self._timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # UnicodeError too
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = round((time.monotonic() - started) * 1000)
        return Answer(status_code, error[:500] if error else None, duration_ms)

    def _client_for(self, url: str) -> httpx.AsyncClient:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "https":
            return self._https
        if scheme == "http" and self._http is not None:
            return self._http
        raise _Refused(
            f"{scheme or 'no'} scheme: only https (http only to private or loopback addresses, "
            "with MERCHANT_WEBHOOKS_ALLOW_PRIVATE=true)"
        )

    async def aclose(self) -> None:
        await self._https.aclose()
        if self._http is not None:
            await self._http.aclose()


_UNREACHABLE = "could not connect: refused, unreachable, or not an allowed address"


class _Refused(Exception):
    """A URL the service does not POST to whatever its address (its scheme)."""
