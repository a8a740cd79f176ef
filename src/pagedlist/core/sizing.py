"""Page sizing: how many items a page may hold on a given backend.

The talk's rule: a page of N items of at most B bytes plus ~1 KB of metadata must fit the
backend's row limit, and then halve N as a safety margin. Here the margin is kept, but the
bounded append already makes overfill impossible, so the margin only buys headroom for
envelope and encoding overhead the estimate may miss.
"""

from __future__ import annotations

from pagedlist.core.ops import Limits
from pagedlist.core.values import ITEM_ID_MAX_BYTES
from pagedlist.errors import ConfigError

__all__ = [
    "SAFETY_FACTOR",
    "check_capacity",
    "check_entry_size",
    "derive_capacity",
    "entry_bytes",
    "id_bytes",
    "page_bytes",
]

SAFETY_FACTOR = 2
# Pages far larger than this make every append rewrite a big row on stores that keep the
# page as one document, for no gain in round trips once a read fits in one batch.
MAX_DERIVED_CAPACITY = 1000


def _value_growth(limits: Limits) -> int:
    # The value is stored as its JSON text, which holds no control characters any more:
    # written again inside JSON text, only '"' and '\\' double. Ids are raw strings.
    return min(2, limits.value_expansion)


def id_bytes(limits: Limits) -> int:
    """Worst-case stored size of an item id (128 control characters, escaped)."""
    return ITEM_ID_MAX_BYTES * limits.value_expansion


def entry_bytes(limits: Limits, max_item_bytes: int) -> int:
    """Worst-case stored size of one entry on this backend: the value's text and the id
    as the backend stores them (escaped where it keeps them inside JSON text), plus the
    entry's fixed overhead (attribute names, the timestamp, separators, quotes)."""
    return max_item_bytes * _value_growth(limits) + id_bytes(limits) + limits.entry_overhead


def page_bytes(limits: Limits, max_item_bytes: int, capacity: int) -> int:
    """Worst-case stored size of a full page."""
    return limits.row_overhead + capacity * entry_bytes(limits, max_item_bytes)


def derive_capacity(limits: Limits, max_item_bytes: int) -> int:
    """The capacity to use when the caller gives none."""
    if limits.row_bytes is None:
        return MAX_DERIVED_CAPACITY
    room = limits.row_bytes - limits.row_overhead
    fits = room // entry_bytes(limits, max_item_bytes)
    capacity = min(fits // SAFETY_FACTOR, MAX_DERIVED_CAPACITY)
    if capacity < 1:
        raise ConfigError(
            f"max_item_bytes={max_item_bytes} is too large for this store's "
            f"{limits.row_bytes}-byte rows (two items must fit with the safety margin): "
            f"use max_item_bytes <= {max_item_bytes_for(limits, 2)}"
        )
    return capacity


def max_item_bytes_for(limits: Limits, capacity: int) -> int:
    """The largest ``max_item_bytes`` for which ``capacity`` items fit one row."""
    if limits.row_bytes is None:
        return 2**31
    per_entry = (limits.row_bytes - limits.row_overhead) // capacity
    return max(0, (per_entry - id_bytes(limits) - limits.entry_overhead) // _value_growth(limits))


def check_capacity(limits: Limits, max_item_bytes: int, capacity: object) -> int:
    """Validate an explicit capacity: a positive int whose full page fits one row."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ConfigError(f"capacity must be a positive int, got {capacity!r}")
    if max_item_bytes < 1:
        raise ConfigError(f"max_item_bytes must be a positive int, got {max_item_bytes!r}")
    if limits.row_bytes is not None:
        need = page_bytes(limits, max_item_bytes, capacity)
        if need > limits.row_bytes:
            best = (limits.row_bytes - limits.row_overhead) // entry_bytes(limits, max_item_bytes)
            smaller = max_item_bytes_for(limits, capacity)
            items = f", or max_item_bytes <= {smaller}" if smaller > 0 else ""
            raise ConfigError(
                f"capacity={capacity} with max_item_bytes={max_item_bytes} needs up to {need} "
                f"bytes per page, over this store's {limits.row_bytes}-byte row limit: use "
                f"capacity <= {best} (or omit it to derive one){items}"
            )
    return capacity


#: Items per page of a layout-2 list when none is asked for. Pages of layout 2 are ranges
#: of positions (the unit ``iter()`` reads and retention trims in), not rows, so their
#: size costs nothing on any backend.
ENTRY_PAGE_CAPACITY = 100


def check_entry_size(limits: Limits, max_item_bytes: int) -> int:
    """Validate ``max_item_bytes`` for layout 2, where each item is a row of its own."""
    if isinstance(max_item_bytes, bool) or not isinstance(max_item_bytes, int):
        raise ConfigError(f"max_item_bytes must be a positive int, got {max_item_bytes!r}")
    if max_item_bytes < 1:
        raise ConfigError(f"max_item_bytes must be a positive int, got {max_item_bytes!r}")
    if limits.row_bytes is not None:
        need = limits.row_overhead + entry_bytes(limits, max_item_bytes)
        if need > limits.row_bytes:
            raise ConfigError(
                f"max_item_bytes={max_item_bytes} needs up to {need} bytes per item row, over "
                f"this store's {limits.row_bytes}-byte row limit: use max_item_bytes <= "
                f"{max_item_bytes_for(limits, 1)}"
            )
    return max_item_bytes
