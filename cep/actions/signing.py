"""Standard Webhooks v1 signatures: what receivers verify, so it must be byte-exact.

The signed content is `"{webhook-id}.{webhook-timestamp}.{body}"` (the exact body bytes
sent), HMAC-SHA256 with the secret's key bytes (base64 after the `whsec_` prefix), base64,
as `v1,<sig>`. Several secrets (rotation) give several space-separated signatures; a
receiver accepts the message if any verifies. The timestamp is the unix second of the
attempt, so every retry is signed anew while `webhook-id` stays the match id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence

__all__ = ["PREFIX", "new_secret", "sign", "signed_headers", "verify"]

PREFIX = "whsec_"
TOLERANCE_S = 300  # what the reference libraries accept, both too old and too new


def new_secret(nbytes: int = 32) -> str:
    """A fresh `whsec_` secret of `nbytes` random bytes (24..64 per the spec)."""
    if not 24 <= nbytes <= 64:
        raise ValueError("a webhook secret has 24 to 64 random bytes")
    return PREFIX + base64.b64encode(os.urandom(nbytes)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(PREFIX):] if secret.startswith(PREFIX) else secret
    return base64.b64decode(raw)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of one message with one secret."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(
    msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every secret."""
    if not secrets:
        raise ValueError("an endpoint needs at least one active secret")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: int,
    tolerance: int = TOLERANCE_S,
) -> bool:
    """Receiver side (for tests and docs): any v1 signature matches, timestamp in tolerance."""
    try:
        msg_id = headers["webhook-id"]
        ts = int(headers["webhook-timestamp"])
        sigs = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now - ts) > tolerance:
        return False
    want = sign(secret, msg_id, ts, body)
    return any(hmac.compare_digest(want, s) for s in sigs if s.startswith("v1,"))
