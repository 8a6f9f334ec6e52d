"""The Host allow-list and framing-header rules shared by every server (no web extra)."""

from __future__ import annotations

import pytest

from rlhf_otel import ConfigurationError
from rlhf_otel._hosts import HostAllowList, guard_headers


@pytest.mark.parametrize(
    ("host", "local", "allowed"),
    [
        ("[::1]:8000", ("::1", 8000), True),
        ("localhost:8000", ("::1", 8000), True),
        ("[::1]:9000", ("::1", 8000), False),
        ("192.0.2.5:8000", ("192.0.2.5", 8000), True),
        ("localhost:8000", ("192.0.2.5", 8000), False),
        ("EXAMPLE.org:8000", ("192.0.2.5", 8000), True),
        ("sub.corp.example:1", ("192.0.2.5", 8000), True),
        ("corp.example", ("192.0.2.5", 8000), True),
        ("evilcorp.example", ("192.0.2.5", 8000), False),
        ("example.org:abc", ("192.0.2.5", 8000), False),
        (None, ("192.0.2.5", 8000), True),
        ("example.org", None, True),
        ("192.0.2.5:8000", None, False),
    ],
)
def test_host_rules(host: str | None, local: tuple[str, int] | None, allowed: bool) -> None:
    """Bound address with or without port, loopback names on loopback only, names any
    port, domains with subdomains; a non-numeric port is refused."""
    hosts = HostAllowList(["example.org", ".corp.example"])
    assert hosts.allows(host, local) is allowed


def test_comma_string_and_bad_names() -> None:
    """A comma-separated string is a list; a URL is a configuration error."""
    assert HostAllowList("a.example, b.example:8").allows("b.example:8", None)
    with pytest.raises(ConfigurationError, match="not a host name"):
        HostAllowList(["https://a.example"])


def test_guard_headers_merge() -> None:
    """Missing framing headers are added; a CSP without frame-ancestors is completed and
    headers already set are kept as they are."""
    assert guard_headers([(b"x-frame-options", b"SAMEORIGIN")]) == [
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"frame-ancestors 'none'"),
    ]
    assert guard_headers([(b"Content-Security-Policy", b"img-src 'self';")])[0] == (
        b"Content-Security-Policy",
        b"img-src 'self'; frame-ancestors 'none'",
    )
