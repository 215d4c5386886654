"""Our signatures verify with the official `standardwebhooks` package, and fail when they should."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cep.actions.signing import new_secret, sign, signed_headers, verify

BODY = b'{"type":"match.created","data":{"match_id":"m1"}}'


def test_signature_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    h = signed_headers("m1", int(time.time()), BODY, [secret])
    assert Webhook(secret).verify(BODY, h) == {"type": "match.created", "data": {"match_id": "m1"}}
    assert verify(secret, h, BODY, int(time.time()))


@pytest.mark.parametrize("tamper", ["body", "secret", "old", "new", "id"])
def test_tampering_fails(tamper: str) -> None:
    secret = new_secret()
    now = int(time.time())
    ts = now - 301 if tamper == "old" else now + 301 if tamper == "new" else now
    h = signed_headers("m1", ts, BODY, [secret])
    body = BODY + b" " if tamper == "body" else BODY
    if tamper == "id":
        h["webhook-id"] = "m2"
    key = new_secret() if tamper == "secret" else secret
    with pytest.raises(WebhookVerificationError):
        Webhook(key).verify(body, h)
    assert not verify(key, h, body, now)


def test_rotation_sends_both_signatures_and_each_verifies() -> None:
    old, new = new_secret(), new_secret()
    h = signed_headers("m1", int(time.time()), BODY, [new, old])
    assert len(h["webhook-signature"].split()) == 2
    assert Webhook(old).verify(BODY, h) and Webhook(new).verify(BODY, h)


def test_sign_is_the_documented_construction() -> None:
    import base64
    import hashlib
    import hmac

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    want = base64.b64encode(hmac.new(b"k" * 32, b"id.5.body", hashlib.sha256).digest()).decode()
    assert sign(secret, "id", 5, b"body") == "v1," + want
    with pytest.raises(ValueError):
        new_secret(8)
