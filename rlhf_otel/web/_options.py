"""Options of the feedback service (a frozen dataclass)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rlhf_otel._errors import ConfigurationError
from rlhf_otel._hosts import HostAllowList
from rlhf_otel._tokens import TokenKeys

__all__ = ["FeedbackAppConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackAppConfig:
    """How the feedback endpoint limits and stamps what browsers send.

    Attributes:
        allow_origins: origins allowed to call cross-origin (default none: same origin only;
            ``"*"`` allows any, tokens still authorise every write).
        source: the ``source`` stamped on every record (default ``"web"``).
        max_body_bytes: largest request body (default 64 KiB; 413 past it).
        max_batch_items: most submissions in one ``/feedback/batch`` (default 50).
        max_json_depth: deepest JSON nesting accepted (default 32; 400 past it).
        ip_rate, ip_burst: per client address, requests a second and burst (default 20, 60).
        token_rate, token_burst: per token, submissions a second and burst (default 2, 20).
        trust_forwarded: take the client address from ``X-Forwarded-For`` (only behind a
            proxy you run; default off).
        trusted_proxies: how many proxies you run in front (default 1): the client is the
            hop that many places from the right of ``X-Forwarded-For`` (each proxy appends
            the address it got the request from), so hops a client writes itself are ignored.
        allowed_hosts: ``Host`` names answered besides the address the client connected to
            (and ``localhost`` on loopback); others get 421. ``"*"`` turns the check off.
        recent_ids: how many recent feedback ids are remembered to answer retries at once
            (default 100,000; older ones are found in the store).
        keys: the token keys; default from the logger's config (``feedback_secret``).
    """

    allow_origins: Sequence[str] = ()
    source: str = "web"
    max_body_bytes: int = 65_536
    max_batch_items: int = 50
    max_json_depth: int = 32
    ip_rate: float = 20.0
    ip_burst: float = 60.0
    token_rate: float = 2.0
    token_burst: float = 20.0
    trust_forwarded: bool = False
    trusted_proxies: int = 1
    allowed_hosts: Sequence[str] = ()
    recent_ids: int = 100_000
    keys: TokenKeys | None = None

    def __post_init__(self) -> None:
        if isinstance(self.allow_origins, str):
            object.__setattr__(self, "allow_origins", (self.allow_origins,))
        if isinstance(self.allowed_hosts, str):
            object.__setattr__(self, "allowed_hosts", (self.allowed_hosts,))
        HostAllowList(self.allowed_hosts)
        for name in (
            "max_body_bytes",
            "max_batch_items",
            "max_json_depth",
            "recent_ids",
            "trusted_proxies",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an int >= 1; got {value!r}")
        for name in ("ip_rate", "ip_burst", "token_rate", "token_burst"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"{name} must be a number > 0; got {value!r}")
        if self.ip_burst < 1 or self.token_burst < 1:
            raise ConfigurationError("ip_burst and token_burst must be >= 1")
        if not isinstance(self.source, str) or not self.source:
            raise ConfigurationError(f"source must be a non-empty string; got {self.source!r}")
