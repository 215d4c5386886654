"""The price-band split of large partitions keeps results exact (forced at every size)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import cep.index.attribute as attribute

from . import test_equivalence as eq


@pytest.fixture(autouse=True)
def split_everything() -> Iterator[None]:
    old = attribute.SPLIT_MIN
    attribute.SPLIT_MIN = 0
    try:
        yield
    finally:
        attribute.SPLIT_MIN = old


def test_searches_equal_plain_with_band_split() -> None:
    eq.test_searches_equal_plain_and_brute_force()


def test_live_registration_equals_plain_with_band_split() -> None:
    eq.test_live_registration_equals_plain()
