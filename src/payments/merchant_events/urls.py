"""Which URLs the service may post the shop's events to (no SSRF through the service).

Checked when an endpoint is saved, on what the URL itself says; the address a host name
resolves to is checked again when each connection is made (payments.merchant_events
.transport), so a name that later resolves elsewhere gains nothing.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import idna

from payments.errors import InvalidEndpointUrl
from payments.merchant_events.transport import allowed

MAX_LENGTH = 2048
_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal")


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL as given, if events may be sent to it; InvalidEndpointUrl says why not.

    https to a public address; with `allow_private` (the sandbox, tests, a shop on the
    same private network) also private and loopback addresses, over http or https.
    Link-local addresses (cloud metadata services live there) are never allowed.
    """
    if any(character.isspace() for character in url) or not url.isascii():
        raise InvalidEndpointUrl("the URL must be ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        raise InvalidEndpointUrl(f"not a URL: {exc}") from None
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidEndpointUrl("the URL must start with https:// and name a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidEndpointUrl("the URL must not carry credentials; the signature is the proof")
    if parts.fragment:
        raise InvalidEndpointUrl("the URL must not have a #fragment")
    if port == 0:
        raise InvalidEndpointUrl("port 0 cannot be reached")
    private = _private(host)
    if private and not allow_private:
        raise InvalidEndpointUrl(
            f"{host} is a private, loopback or local address; set "
            "MERCHANT_WEBHOOKS_ALLOW_PRIVATE=true to send events to one"
        )
    if parts.scheme == "http" and not (private and allow_private):
        raise InvalidEndpointUrl(
            "the URL must be https (http only to a private or loopback address, with "
            "MERCHANT_WEBHOOKS_ALLOW_PRIVATE=true)"
        )
    return url


def _private_name(host: str) -> bool:
    """Whether a host name is a local one; names no resolver or TLS library takes, and
    numbers that are IPv4 addresses in disguise (`127.1`, `0x7f.1`, `2130706433`), are
    refused."""
    name = host.lower().rstrip(".")
    labels = name.split(".")
    if any(not label for label in labels):
        raise InvalidEndpointUrl(f"{host} is not a valid host name (an empty label)")
    if all(_NUMBER.fullmatch(label) for label in labels):
        raise InvalidEndpointUrl(f"write the address {host} as four decimal numbers: a.b.c.d")
    for label in labels:
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError:
                raise InvalidEndpointUrl(f"{host} is not a valid internationalized name") from None
    return name in _LOCAL_NAMES or name.endswith(_LOCAL_NAMES) or "." not in name


_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")


def _private(host: str) -> bool:
    """Whether the host is not a public address: refused unless private ones are allowed.
    Addresses events are never sent to (link-local, metadata, shared, reserved, multicast,
    unspecified, and IPv6 forms carrying them) are refused here outright."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _private_name(host)
    # The rule the sender applies at every connection (payments.merchant_events.transport).
    if allowed(address, allow_private=False):
        return False
    if allowed(address, allow_private=True):
        return True
    raise InvalidEndpointUrl(f"{host} is not an address events can be sent to")
