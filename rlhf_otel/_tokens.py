"""Signed feedback tokens: what a browser may submit, verified with no lookup (stdlib only).

A token is ``<key id>.<payload>.<signature>``: the payload is base64url (no padding) of a
compact JSON object, the signature base64url of HMAC-SHA256 over ``<key id>.<payload>`` with
the key id's secret. Payload fields: ``v`` (format version, 1), ``j`` (random token id),
``i`` (interaction ids), ``t`` (allowed feedback types), ``u`` (user id, optional), ``e``
(expiry, Unix seconds). Verification checks the signature in constant time before reading
the payload, then the expiry; it needs no store and no network.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rlhf_otel._errors import ConfigurationError, RLHFError, ValidationError
from rlhf_otel.records import FeedbackType, validate_id

__all__ = [
    "MAX_TOKEN_CHARS",
    "TokenClaims",
    "TokenError",
    "TokenKeys",
]

MAX_TOKEN_CHARS: Final = 8192
_KID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CLIENT_KEY_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_B64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]*")
_MIN_SECRET: Final = 16
_MAX_IDS: Final = 16
_MAX_TTL: Final = 30 * 86400
_ALL_TYPES: Final = tuple(t.value for t in FeedbackType)
_FID_PREFIX: Final = "wf."


class TokenError(RLHFError):
    """A feedback token was refused: ``status`` is 401 (not valid) or 403 (not allowed).

    ``reason`` is a short code (``malformed``, ``bad_signature``, ``unknown_key``,
    ``expired``, ``wrong_interaction``, ``type_not_allowed``, ``bad_supersedes``).
    """

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token allows."""

    token_id: str
    interaction_ids: tuple[str, ...]
    types: tuple[str, ...]
    user_id: str | None
    expires_at: int
    key_id: str

    def check(self, interaction_ids: Iterable[str], ftype: str) -> None:
        """Raise :class:`TokenError` (403) unless the token covers these targets and type."""
        if ftype not in self.types:
            raise TokenError(
                403,
                "type_not_allowed",
                f"this token does not allow {ftype!r} feedback; allowed: {', '.join(self.types)}",
            )
        for iid in interaction_ids:
            if iid not in self.interaction_ids:
                raise TokenError(
                    403,
                    "wrong_interaction",
                    f"this token does not cover interaction {iid!r}",
                )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Decode canonical base64url only: no padding, ``A-Z a-z 0-9 - _``, unused bits zero.

    Lenient decoding would let one signature be written several ways; a token has one
    spelling, so caches and logs keyed by it cannot be sidestepped.
    """
    if _B64URL_RE.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not canonical base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


class TokenKeys:
    """The secrets that sign (the active key id) and verify (every key id) feedback tokens.

    Args:
        keys: ``{key id: secret}``; each secret at least 16 characters.
        active: the key id that signs new tokens (``None``: verify only).

    Raises:
        ConfigurationError: a key id or secret is not allowed, or ``active`` is not in ``keys``.
    """

    __slots__ = ("_active", "_keys")

    def __init__(self, keys: Mapping[str, str | bytes], active: str | None = None) -> None:
        self._keys: dict[str, bytes] = {}
        for kid, secret in keys.items():
            if not isinstance(kid, str) or _KID_RE.fullmatch(kid) is None:
                raise ConfigurationError(
                    f"feedback key id {kid!r} is not allowed: 1-32 of A-Z a-z 0-9 _ -"
                )
            raw = secret.encode() if isinstance(secret, str) else secret
            if not isinstance(raw, bytes) or len(raw) < _MIN_SECRET:
                raise ConfigurationError(
                    f"feedback secret for key id {kid!r} is too short: at least "
                    f"{_MIN_SECRET} characters (e.g. python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))')"
                )
            self._keys[kid] = raw
        if active is not None and active not in self._keys:
            raise ConfigurationError(f"active feedback key id {active!r} has no secret")
        self._active = active

    @classmethod
    def from_config(cls, config: Any) -> TokenKeys:
        """Keys from an ``RLHFConfig`` (``feedback_secret``, ``feedback_key_id``,
        ``feedback_keys``).

        Raises:
            ConfigurationError: no secret is configured, or one is not allowed.
        """
        keys: dict[str, str | bytes] = dict(config.feedback_keys or {})
        active = None
        if config.feedback_secret:
            keys[config.feedback_key_id] = config.feedback_secret
            active = config.feedback_key_id
        if not keys:
            raise ConfigurationError(
                "feedback tokens need a secret: pass feedback_secret=... or set "
                "RLHF_OTEL_FEEDBACK_SECRET"
            )
        return cls(keys, active)

    def __repr__(self) -> str:
        return f"TokenKeys(key_ids={sorted(self._keys)!r}, active={self._active!r})"

    def _mac(self, kid: str, *parts: str) -> bytes:
        return hmac.digest(self._keys[kid], "\x1f".join(parts).encode(), "sha256")

    def sign(
        self,
        interaction_ids: str | Sequence[str],
        *,
        types: Iterable[FeedbackType | str] | None = None,
        user_id: str | None = None,
        ttl: float = 3600.0,
        now: float | None = None,
    ) -> str:
        """A token allowing feedback of ``types`` (default all) on these interactions.

        Raises:
            ValidationError: an id, type, user id or ttl is not allowed.
            ConfigurationError: these keys have no active (signing) key id.
        """
        if self._active is None:
            raise ConfigurationError("no active feedback key: set feedback_secret to sign")
        ids = [interaction_ids] if isinstance(interaction_ids, str) else list(interaction_ids)
        if not 1 <= len(ids) <= _MAX_IDS:
            raise ValidationError(f"a token covers 1 to {_MAX_IDS} interactions; got {len(ids)}")
        ids = list(dict.fromkeys(validate_id(i) for i in ids))
        try:
            allowed = (
                _ALL_TYPES
                if types is None
                else tuple(dict.fromkeys(FeedbackType(t).value for t in types))
            )
        except ValueError:
            raise ValidationError(
                f"feedback types {types!r} not allowed; allowed: {', '.join(_ALL_TYPES)}"
            ) from None
        if not allowed:
            raise ValidationError("a token must allow at least one feedback type")
        if user_id is not None:
            validate_id(user_id, "user id")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 1 <= ttl <= _MAX_TTL:
            raise ValidationError(f"ttl must be 1 to {_MAX_TTL} seconds; got {ttl!r}")
        payload: dict[str, Any] = {
            "v": 1,
            "j": _b64(secrets.token_bytes(12)),
            "i": ids,
            "t": list(allowed),
            "e": int((time.time() if now is None else now) + ttl),
        }
        if user_id is not None:
            payload["u"] = user_id
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        kid = self._active
        return f"{kid}.{body}.{_b64(self._mac(kid, kid, body))}"

    def verify(self, token: object, *, now: float | None = None) -> TokenClaims:
        """The claims of a valid token.

        Raises:
            TokenError: 401 if the token is malformed, forged, from an unknown key or expired.
        """
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise TokenError(401, "malformed", "a feedback token (string) is required")
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError(401, "malformed", "the feedback token is malformed")
        kid, body, sig = parts
        if kid not in self._keys:
            raise TokenError(401, "unknown_key", "the feedback token's key id is not known")
        try:
            given = _unb64(sig)
            _unb64(body)
        except (binascii.Error, ValueError):
            raise TokenError(401, "malformed", "the feedback token is malformed") from None
        if not hmac.compare_digest(given, self._mac(kid, kid, body)):
            raise TokenError(401, "bad_signature", "the feedback token's signature is invalid")
        try:
            claims = json.loads(_unb64(body))
            result = TokenClaims(
                token_id=_str(claims["j"]),
                interaction_ids=tuple(_str(i) for i in claims["i"]),
                types=tuple(_str(t) for t in claims["t"]),
                user_id=None if claims.get("u") is None else _str(claims["u"]),
                expires_at=int(claims["e"]),
                key_id=kid,
            )
        except (ValueError, KeyError, TypeError):
            raise TokenError(
                401, "malformed", "the feedback token's payload is malformed"
            ) from None
        if result.expires_at < (time.time() if now is None else now):
            raise TokenError(401, "expired", "the feedback token has expired")
        return result

    def id_prefix(self, claims: TokenClaims, ftype: str) -> str:
        """``wf.<24 hex>.``: the id prefix shared by every submission of ``ftype`` under one
        token (keyed by the secret, so a client cannot make one up)."""
        mac = self._mac(claims.key_id, "prefix", claims.token_id, ftype)
        return f"{_FID_PREFIX}{mac[:12].hex()}."

    def feedback_id(self, claims: TokenClaims, ftype: str, client_key: str) -> str:
        """``<prefix><24 hex>``: the same id for every retry of one submission.

        Raises:
            ValidationError: the client key is not 1-64 of A-Z a-z 0-9 _ -.
        """
        if not isinstance(client_key, str) or _CLIENT_KEY_RE.fullmatch(client_key) is None:
            raise ValidationError(
                f"client_key {client_key!r} is not allowed: 1-64 of A-Z a-z 0-9 _ -"
            )
        tail = self._mac(claims.key_id, "id", claims.token_id, ftype, client_key)[:12].hex()
        return self.id_prefix(claims, ftype) + tail


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value
