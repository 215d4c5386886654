"""API keys: hashed at rest, constant-time checked, roles nest, first-start admin key."""

from __future__ import annotations

import pytest

from cep.keys import KeyRefused, create_key, ensure_admin, list_keys, revoke_key, verify_key
from cep.store.memory import MemoryStore


def test_keys_verify_only_with_the_exact_token() -> None:
    store = MemoryStore()
    token, rec = create_key(store, "acme", "writer")
    p = verify_key(store, token)
    assert p is not None and (p.tenant, p.role) == ("acme", "writer")
    assert p.can("reader") and p.can("writer") and not p.can("admin")
    assert verify_key(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert verify_key(store, "cep_00000000_" + "x" * 43) is None
    assert verify_key(store, "") is None and verify_key(store, "x" * 1000) is None
    assert token not in str(store.get_resource("apikey", rec["id"]).doc)
    assert revoke_key(store, rec["id"]) and verify_key(store, token) is None
    with pytest.raises(KeyRefused):
        create_key(store, "acme", "root")


def test_admin_key_is_created_once_or_preset() -> None:
    store = MemoryStore()
    first = ensure_admin(store)
    assert first is not None and verify_key(store, first).role == "admin"
    assert ensure_admin(store) is None  # shown once: the next start makes none
    preset = MemoryStore()
    assert ensure_admin(preset, "automation-key-1234567") is None
    assert verify_key(preset, "automation-key-1234567").tenant == "default"
    assert ensure_admin(preset, "automation-key-1234567") is None
    assert len([k for k in list_keys(preset) if k["role"] == "admin"]) == 1
    with pytest.raises(KeyRefused):
        ensure_admin(preset, "short")
