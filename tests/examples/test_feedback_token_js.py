"""The example's JavaScript token minter makes tokens our Python verifier accepts, and refuses
bad arguments the way the Python signer does."""

from __future__ import annotations

import json
import subprocess

import pytest

from rlhf_otel._tokens import TokenError, TokenKeys
from tests.examples.node_chat import EXAMPLE_DIR, SECRET, require_node_modules

SCRIPT = """
import { mintFeedbackToken } from './feedback-token.mjs';
const out = [];
for (const args of JSON.parse(process.argv[1])) {
  try { out.push({ token: mintFeedbackToken(args) }); }
  catch (e) { out.push({ error: e.constructor.name, message: e.message }); }
}
console.log(JSON.stringify(out));
"""


def mint(*calls: dict[str, object]) -> list[dict[str, str]]:
    """Run the JS minter once per argument object; its tokens or its errors."""
    require_node_modules()
    done = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, json.dumps(list(calls))],
        cwd=EXAMPLE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: list[dict[str, str]] = json.loads(done.stdout)
    return result


def test_js_tokens_verify_in_python() -> None:
    """Claims written by the JS minter read back the same through TokenKeys.verify."""
    iid = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
    results = mint(
        {"secret": SECRET, "interactionIds": iid, "userId": "u-1", "now": 1_800_000_000},
        {
            "secret": SECRET,
            "keyId": "k2",
            "interactionIds": ["chat-1", "chat-2", "chat-1"],
            "types": ["comparative"],
            "ttlSeconds": 60,
            "now": 1_800_000_000,
        },
    )
    one = TokenKeys({"k0": SECRET}).verify(results[0]["token"], now=1_800_000_000)
    two = TokenKeys({"k2": SECRET}).verify(results[1]["token"], now=1_800_000_000)
    assert (one.interaction_ids, one.types, one.user_id, one.expires_at, one.key_id) == (
        (iid,),
        ("binary", "rating", "text", "multi_dimensional", "comparative"),
        "u-1",
        1_800_003_600,
        "k0",
    )
    assert (two.interaction_ids, two.types, two.user_id, two.expires_at, two.key_id) == (
        ("chat-1", "chat-2"),
        ("comparative",),
        None,
        1_800_000_060,
        "k2",
    )
    assert len(one.token_id) == 16


def test_js_tokens_fail_with_another_secret_or_after_expiry() -> None:
    """A JS token is refused with the wrong secret (401 bad_signature) and once expired."""
    [result] = mint(
        {"secret": SECRET, "interactionIds": "chat-1", "ttlSeconds": 1, "now": 1_800_000_000}
    )
    with pytest.raises(TokenError) as forged:
        TokenKeys({"k0": "another-secret-0123456789"}).verify(result["token"], now=1_800_000_000)
    with pytest.raises(TokenError) as expired:
        TokenKeys({"k0": SECRET}).verify(result["token"], now=1_800_000_002)
    assert (forged.value.status, forged.value.reason) == (401, "bad_signature")
    assert (expired.value.status, expired.value.reason) == (401, "expired")


def test_js_minter_refuses_what_python_refuses() -> None:
    """Short secret, bad key id, no ids, 17 ids, unknown type, bad ttl, malformed id: RangeError."""
    results = mint(
        {"secret": "short", "interactionIds": "a"},
        {"secret": SECRET, "keyId": "k 0", "interactionIds": "a"},
        {"secret": SECRET, "interactionIds": []},
        {"secret": SECRET, "interactionIds": [f"i{n}" for n in range(17)]},
        {"secret": SECRET, "interactionIds": "a", "types": ["vote"]},
        {"secret": SECRET, "interactionIds": "a", "ttlSeconds": 0},
        {"secret": SECRET, "interactionIds": "-a"},
    )
    assert [r["error"] for r in results] == ["RangeError"] * 7
    assert [r["message"] for r in results] == [
        "the feedback secret must be a string of at least 16 characters",
        'key id "k 0" is not allowed: 1-32 of A-Z a-z 0-9 _ -',
        "a token covers 1 to 16 interactions; got 0",
        "a token covers 1 to 16 interactions; got 17",
        'feedback types ["vote"] not allowed; allowed: binary, rating, text, multi_dimensional, '
        "comparative",
        "ttlSeconds must be 1 to 2592000; got 0",
        'id "-a" is malformed: 1-256 of A-Z a-z 0-9 . _ : @ / + = - starting with a letter or digit',
    ]
