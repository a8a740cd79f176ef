"""Fidelity clauses (F*): every JSON value comes back exactly, or is refused before anything
is written.

"Exactly" is type-strict: ``1``, ``1.0`` and ``True`` stay distinct, ``-0.0`` keeps its
sign, floats keep every bit (subnormals included), integers keep every digit (far beyond
2**53), object keys keep their order and their odd characters, text keeps every Unicode
plane. Values that are not exact JSON (sets, tuples, bytes, NaN, infinities, non-str
keys, lone surrogates) raise ``InvalidValue`` and leave the list untouched.

Property-based (hypothesis), with a modest example count so network backends stay fast.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pagedlist import PagedList
from pagedlist.conformance.capabilities import clause
from pagedlist.errors import InvalidValue

__all__ = ["AbstractFidelityTests", "json_values", "strict_equal"]

MAX_ITEM_BYTES = 32 * 1024
EXAMPLES = 50

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_keys = st.one_of(
    _text,
    st.sampled_from(["", " ", ".", "$", "|", "/", "\\", "#", "?", "\x00", "id", "v", "ts", "😀"]),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=True,
        width=64,
        min_value=-1e-300,
        max_value=1e-300,
    ),
    st.sampled_from([0, 0.0, -0.0, 1, 1.0, True, False, "", 2**53 + 1, -(2**63) - 1, 5e-324]),
    _text,
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_keys, inner, max_size=5),
    ),
    max_leaves=25,
)
"""Arbitrary exact-JSON values: nested lists/objects of every scalar kind."""


def strict_equal(a: Any, b: Any) -> bool:
    """Equality that tells ``1``, ``1.0`` and ``True`` apart, ``0.0`` from ``-0.0``, and
    compares object keys in order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a.hex() == b.hex()
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(strict_equal(a[k], b[k]) for k in a)
    return a == b


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


_REFUSED = [
    {1, 2},
    (1, 2),
    b"bytes",
    float("nan"),
    float("inf"),
    -float("inf"),
    {1: "int key"},
    {"ok": {(1, 2): "tuple key"}},
    "lone \ud800 surrogate",
    {"key \udfff": 1},
    [1, object()],
    10**5000,  # past Python's int <-> str digit limit: no JSON text can be read back
]


class AbstractFidelityTests:
    """Round-trip fidelity through the store under test."""

    @clause("F1")
    def test_json_values_round_trip_exactly(self, store, list_id):
        """F1: any JSON value appended comes back type-strictly equal, by get() and latest()."""
        plist = PagedList.create(store, list_id, max_item_bytes=MAX_ITEM_BYTES)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(json_values)
        @example(_deep(100))
        @example({"": "", "a.b": [], "$x": {}, "\x00": [[[]]], "😀": -0.0})
        @example([sys.float_info.min, sys.float_info.max, 5e-324, -5e-324, 2**64, -(2**64)])
        @example("".join(chr(c) for c in (0x41, 0xE9, 0x4E2D, 0x1F600, 0x10FFFF, 0xFFFF, 0)))
        def round_trip(value: Any) -> None:
            from pagedlist.core.values import encode_value

            try:
                encode_value(value, MAX_ITEM_BYTES)
            except Exception:
                return  # over max_item_bytes: F2/F3 territory, not this clause
            position = plist.append(value)
            got = plist.get(position)
            assert got is not None
            assert strict_equal(got.value, value), (value, got.value)
            newest = plist.latest(1)
            assert newest and newest[0].position == position
            assert strict_equal(newest[0].value, value)

        round_trip()

    @clause("F2")
    @pytest.mark.parametrize("bad", _REFUSED, ids=lambda v: type(v).__name__)
    def test_non_json_values_are_refused_before_writing(self, store, list_id, bad):
        """F2: non-JSON values raise InvalidValue and write nothing, alone or in extend()."""
        plist = PagedList.create(store, list_id, capacity=4)
        plist.append("before")
        with pytest.raises(InvalidValue):
            plist.append(bad)
        with pytest.raises(InvalidValue):
            plist.extend(["fine", bad])
        assert plist.count() == 1
        assert [i.value for i in plist.latest(5)] == ["before"]

    @clause("F3")
    def test_special_floats_and_big_ints_keep_their_exact_form(self, store, list_id):
        """F3: -0.0, subnormals, 1 vs 1.0 vs True, and integers past 2**53 and 2**64."""
        plist = PagedList.create(store, list_id, capacity=8)
        values = [-0.0, 0.0, 5e-324, 1, 1.0, True, 2**53 + 1, -(2**64) - 1, 10**40, math.pi]
        positions = plist.extend(values)
        for position, value in zip(positions, values, strict=True):
            got = plist.get(position)
            assert got is not None and strict_equal(got.value, value), (value, got)
