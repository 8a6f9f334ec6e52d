"""Allowed ``Host`` names and anti-framing headers shared by every server we ship (stdlib only).

The ASGI servers (``serve``, ``review``) apply them through ``rlhf_otel.web``; ``collect``
runs on ``http.server`` without the web extra, so the rules live here, once, for both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from rlhf_otel._errors import ConfigurationError

__all__ = [
    "FRAME_ANCESTORS",
    "HostAllowList",
    "guard_headers",
    "split_host",
]

FRAME_ANCESTORS: Final = "frame-ancestors 'none'"
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


def split_host(value: str) -> tuple[str, str | None]:
    """``("name", "port")`` of a ``Host`` header value (``[v6]`` unbracketed, lower case)."""
    text = value.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return text, None
        rest = text[end + 1 :]
        port = rest[1:] if rest.startswith(":") else None
        return text[1:end], port
    if text.count(":") == 1:
        name, _, port = text.partition(":")
        return name, port
    return text, None


class HostAllowList:
    """Which ``Host`` header values a server answers; the others get 421.

    Allowed: the local address the client connected to (with or without its port), and,
    on a loopback address, any loopback name (``127.0.0.1``, ``::1``, ``localhost``); plus
    ``names``. A name without a port
    matches any port, ``"name:port"`` only that port, ``".example.com"`` that domain and
    its subdomains, and ``"*"`` any host (no check). A request without ``Host`` (HTTP/1.0)
    passes: a browser always sends one.

    Raises:
        ConfigurationError: a name is empty or holds a space, a slash or a scheme.
    """

    __slots__ = ("any", "domains", "exact", "names")

    def __init__(self, names: Iterable[str] = ()) -> None:
        if isinstance(names, str):
            names = [n for n in names.split(",") if n.strip()]
        exact: set[str] = set()
        plain: set[str] = set()
        domains: list[str] = []
        self.any = False
        for raw in names:
            name = raw.strip().lower() if isinstance(raw, str) else ""
            if not name or any(c in name for c in " /\t@") or "://" in name:
                raise ConfigurationError(
                    f"allowed host {raw!r} is not a host name: give names such as "
                    "'chat.example.com', 'chat.example.com:8443', '.example.com' or '*'"
                )
            if name == "*":
                self.any = True
            elif name.startswith("."):
                domains.append(name)
            else:
                host, port = split_host(name)
                if port is None:
                    plain.add(host)
                else:
                    exact.add(f"{host}:{port}")
        self.names = frozenset(plain)
        self.exact = frozenset(exact)
        self.domains = tuple(domains)

    def allows(self, host_header: str | None, local: tuple[str, int | None] | None) -> bool:
        """Whether a request with this ``Host`` reaching the ``local`` address is served."""
        if self.any or host_header is None:
            return True
        host, port = split_host(host_header)
        if port is not None and not port.isdigit():
            return False
        if host in self.names or (port is not None and f"{host}:{port}" in self.exact):
            return True
        if any(host == d[1:] or host.endswith(d) for d in self.domains):
            return True
        if local is None:
            return False
        bound, bound_port = str(local[0]).lower(), local[1]
        same_port = port is None or bound_port is None or port == str(bound_port)
        if not same_port:
            return False
        return host == bound or (host in _LOOPBACK and bound in _LOOPBACK)

    def refusal(self, host_header: str) -> str:
        """The 421 answer's detail for a refused ``Host``."""
        listed = sorted(self.names | self.exact) + sorted(self.domains)
        extra = "".join(f", {n}" for n in listed)
        return (
            f"host {host_header[:100]!r} is not served here; allowed: the address this server "
            f"listens on{extra} (add names with --allowed-hosts or allowed_hosts=)"
        )


def guard_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
    ``frame-ancestors 'none'`` in the Content-Security-Policy, each unless already set.

    A route that sets its own CSP keeps it; ``frame-ancestors 'none'`` is appended to it
    when it does not name frame ancestors itself.
    """
    out: list[tuple[bytes, bytes]] = []
    seen: set[bytes] = set()
    for key, value in headers:
        low = key.lower()
        seen.add(low)
        if low == b"content-security-policy" and b"frame-ancestors" not in value.lower():
            value = value.rstrip(b"; ") + b"; " + FRAME_ANCESTORS.encode()
        out.append((key, value))
    if b"x-frame-options" not in seen:
        out.append((b"x-frame-options", b"DENY"))
    if b"x-content-type-options" not in seen:
        out.append((b"x-content-type-options", b"nosniff"))
    if b"content-security-policy" not in seen:
        out.append((b"content-security-policy", FRAME_ANCESTORS.encode()))
    return out
