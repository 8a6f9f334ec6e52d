"""Feedback tokens: signing, verification, rotation and secrecy (no web extra needed)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import ConfigurationError, RLHFConfig, ValidationError, create_rlhf_logger
from rlhf_otel._tokens import TokenError, TokenKeys

OLD = "old-secret-0123456789abcdef"
NEW = "new-secret-0123456789abcdef"


def test_round_trip_claims() -> None:
    """A signed token verifies to the ids, types, user and expiry it was made with."""
    keys = TokenKeys({"k1": NEW}, "k1")
    token = keys.sign(["a", "b"], types=["comparative"], user_id="u-1", ttl=60, now=1000.0)
    claims = keys.verify(token, now=1059.0)
    assert (
        claims.interaction_ids,
        claims.types,
        claims.user_id,
        claims.expires_at,
        claims.key_id,
    ) == (("a", "b"), ("comparative",), "u-1", 1060, "k1")
    with pytest.raises(TokenError, match="expired") as info:
        keys.verify(token, now=1061.0)
    assert (info.value.status, info.value.reason) == (401, "expired")


def test_rotation_old_key_still_verifies() -> None:
    """After rotation new tokens use the new key id and old tokens still verify."""
    old_token = TokenKeys({"k0": OLD}, "k0").sign("a")
    rotated = TokenKeys.from_config(
        RLHFConfig(feedback_secret=NEW, feedback_key_id="k1", feedback_keys={"k0": OLD})
    )
    assert rotated.verify(old_token).key_id == "k0"
    assert rotated.sign("a").startswith("k1.")
    assert TokenKeys({"k1": NEW}).verify(rotated.sign("a")).key_id == "k1"
    with pytest.raises(TokenError, match="key id is not known"):
        TokenKeys({"k1": NEW}).verify(old_token)


def test_scope_check() -> None:
    """Claims refuse other interactions and types with 403 reasons."""
    keys = TokenKeys({"k0": NEW}, "k0")
    claims = keys.verify(keys.sign("a", types=["rating"]))
    with pytest.raises(TokenError, match="does not cover interaction 'b'") as info:
        claims.check(["b"], "rating")
    assert (info.value.status, info.value.reason) == (403, "wrong_interaction")
    with pytest.raises(TokenError, match="allowed: rating"):
        claims.check(["a"], "binary")


def test_ids_are_deterministic_and_prefixed() -> None:
    """The same token, type and client key give the same id; its prefix ties it to them."""
    keys = TokenKeys({"k0": NEW}, "k0")
    claims = keys.verify(keys.sign("a"))
    fid = keys.feedback_id(claims, "binary", "c1")
    assert fid == keys.feedback_id(claims, "binary", "c1")
    assert fid != keys.feedback_id(claims, "binary", "c2")
    assert fid.startswith(keys.id_prefix(claims, "binary"))
    assert not fid.startswith(keys.id_prefix(claims, "rating"))
    assert len(fid) == 3 + 24 + 1 + 24


def test_secrets_never_in_reprs() -> None:
    """Neither the keys nor the config show a secret."""
    config = RLHFConfig(feedback_secret=NEW, feedback_keys={"k9": OLD})
    assert NEW not in repr(config)
    assert OLD not in repr(config)
    assert repr(TokenKeys.from_config(config)) == "TokenKeys(key_ids=['k0', 'k9'], active='k0')"


def test_secret_from_environment() -> None:
    """RLHF_OTEL_FEEDBACK_SECRET sets feedback_secret."""
    assert RLHFConfig.from_env({"RLHF_OTEL_FEEDBACK_SECRET": NEW}).feedback_secret == NEW


def test_bad_secrets_and_arguments() -> None:
    """Short secrets, missing secrets and bad arguments say what is allowed."""
    with pytest.raises(ConfigurationError, match="too short: at least 16 characters"):
        TokenKeys({"k0": "short"}, "k0")
    with pytest.raises(ValidationError, match="ttl must be 1 to 2592000 seconds; got 0"):
        TokenKeys({"k0": NEW}, "k0").sign("a", ttl=0)
    with pytest.raises(ValidationError, match="allowed: binary, rating"):
        TokenKeys({"k0": NEW}, "k0").sign("a", types=["stars"])
    logger = create_rlhf_logger(backend="memory", tracer_provider=TracerProvider())
    with logger, pytest.raises(ConfigurationError) as info:
        logger.feedback_token("a")
    assert str(info.value) == (
        "feedback tokens need a secret: pass feedback_secret=... or set RLHF_OTEL_FEEDBACK_SECRET"
    )


def _variants(token: str) -> dict[str, str]:
    """Non-canonical spellings of the same signature bytes."""
    kid, body, sig = token.split(".")
    last = sig[-1]
    # 32 signature bytes are 43 characters: the last one carries 2 unused low bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = alphabet[alphabet.index(last) | 1]
    assert spare != last
    return {
        "padded": f"{kid}.{body}.{sig}=",
        "standard alphabet": f"{kid}.{body}.{sig.replace('-', '+').replace('_', '/')}",
        "unused bits set": f"{kid}.{body}.{sig[:-1]}{spare}",
    }


@pytest.mark.parametrize("variant", ["padded", "standard alphabet", "unused bits set"])
def test_only_canonical_encoding_verifies(variant: str) -> None:
    """A token verifies only in canonical base64url: padded, standard-alphabet and
    changed-unused-bits spellings of the same bytes are refused as malformed."""
    keys = TokenKeys({"k0": NEW}, "k0")
    token = keys.sign("a")
    for _ in range(200):  # a signature with both '-' or '_' in it, for the alphabet case
        kid, body, sig = token.split(".")
        if ("-" in sig or "_" in sig) and sig[-1] in "AEIMQUYcgkosw048":
            break
        token = keys.sign("a")
    assert keys.verify(token).interaction_ids == ("a",)
    bad = _variants(token)[variant]
    with pytest.raises(TokenError) as info:
        keys.verify(bad)
    assert (info.value.status, info.value.reason) == (401, "malformed")
