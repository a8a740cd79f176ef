"""Keys, list ids, item ids and item values: validation and encoding.

Every item is stored as an envelope ``{"id": str, "ts": int ms, "v": str}`` where ``v`` is
the value's JSON text. Backends keep ``v`` as an opaque string, so every value round-trips
exactly (no float drift, no 53-bit integers, no empty-string rules), and ``max_item_bytes``
is the UTF-8 length of that text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
from typing import Any

from pagedlist.errors import InvalidListId, InvalidValue, ItemTooLarge

__all__ = [
    "ITEM_ID_MAX_BYTES",
    "LIST_ID_ALPHABET",
    "MAX_DEPTH",
    "SUMMARY_SUFFIX",
    "decode_value",
    "encode_value",
    "id_record_key",
    "list_id_max_len",
    "new_item_id",
    "page_key",
    "summary_key",
    "validate_item_id",
    "validate_list_id",
]

LIST_ID_ALPHABET = "letters, digits and . _ - :"
_LIST_ID_RE = re.compile(r"[A-Za-z0-9._:-]+")
SUMMARY_SUFFIX = "s"
# Page numbers are non-negative int64s: a key needs room for "|" plus 19 digits.
_PAGE_SUFFIX_MAX = 20
ITEM_ID_MAX_BYTES = 128
#: Deepest nesting of lists and objects a value may have. Every reader decodes values with
#: Python's recursive JSON decoder, which needs a stack frame per level on top of whatever
#: the reader's own call stack (a web framework, a task runner) already uses: 100 levels
#: leave room under the default recursion limit of 1000 for any reader.
MAX_DEPTH = 100


def summary_key(list_id: str) -> str:
    """The key of a list's summary row."""
    return f"{list_id}|{SUMMARY_SUFFIX}"


def page_key(list_id: str, page: int) -> str:
    """The key of page number ``page`` of a list."""
    return f"{list_id}|{page}"


def id_record_key(list_id: str, item_id: str) -> str:
    """The key of the record of caller id ``item_id`` in a list (exactly-once by id).

    Ids may hold any character, so the key carries 96 bits of their SHA-256 in base64url
    (``[A-Za-z0-9_-]``, 16 characters): ``"{list_id}|i|"`` plus those fit the room that
    ``list_id_max_len`` keeps for suffixes. The record stores the id itself too.
    """
    digest = hashlib.sha256(item_id.encode("utf-8", "surrogatepass")).digest()[:12]
    return f"{list_id}|i|{base64.urlsafe_b64encode(digest).decode('ascii')}"


def list_id_max_len(key_bytes: int) -> int:
    """The longest list id whose keys fit in ``key_bytes``."""
    return key_bytes - _PAGE_SUFFIX_MAX


def validate_list_id(list_id: object, key_bytes: int) -> str:
    """Return ``list_id`` if it is a valid id for a store with ``key_bytes`` keys."""
    if not isinstance(list_id, str):
        raise InvalidListId(
            f"list id must be a str, got {type(list_id).__name__}; use {LIST_ID_ALPHABET}"
        )
    if not list_id:
        raise InvalidListId(f"list id is empty; use 1 or more of {LIST_ID_ALPHABET}")
    limit = list_id_max_len(key_bytes)
    if len(list_id) > limit:
        raise InvalidListId(
            f"list id {list_id[:40]!r}... is {len(list_id)} characters; this store's keys allow "
            f"at most {limit}: use a shorter id (hash long natural keys)"
        )
    if not _LIST_ID_RE.fullmatch(list_id):
        bad = next(ch for ch in list_id if not _LIST_ID_RE.fullmatch(ch))
        raise InvalidListId(f"list id {list_id!r} contains {bad!r}; use {LIST_ID_ALPHABET}")
    return list_id


def new_item_id() -> str:
    """A fresh random item id (32 hex digits, 128 random bits)."""
    return os.urandom(16).hex()


def validate_item_id(item_id: object) -> str:
    """Return ``item_id`` if it is a usable item id: a non-empty str of at most 128 bytes."""
    if not isinstance(item_id, str) or not item_id:
        raise InvalidValue(f"item id must be a non-empty str, got {item_id!r}")
    try:
        size = len(item_id.encode("utf-8"))
    except UnicodeEncodeError as err:
        raise InvalidValue(f"item id {item_id!r} is not valid Unicode text: {err}") from None
    if size > ITEM_ID_MAX_BYTES:
        raise InvalidValue(
            f"item id is {size} bytes; at most {ITEM_ID_MAX_BYTES} are allowed: use a hash"
        )
    return item_id


def _check(value: Any, path: str, depth: int = 0) -> None:
    # json.dumps alone would quietly turn tuples into lists and int keys into strings,
    # so a value would not come back equal; refuse those instead.
    if value is None or isinstance(value, bool | str | int):
        return
    if depth >= MAX_DEPTH and isinstance(value, list | dict):
        raise InvalidValue(
            f"value is nested more than {MAX_DEPTH} levels deep (at {path[:60]}...): every "
            "reader would need that many stack frames to decode it; flatten the value"
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(
                f"{path} is {value!r}: JSON has no NaN or Infinity; store None or a string"
            )
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            if not (v is None or isinstance(v, bool | str | int)):
                _check(v, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidValue(
                    f"{path} has key {k!r} of type {type(k).__name__}: JSON object keys are "
                    "strings; convert the key with str()"
                )
            if not (v is None or isinstance(v, bool | str | int)):
                _check(v, f"{path}[{k!r}]", depth + 1)
        return
    raise InvalidValue(
        f"{path} is a {type(value).__name__}, which is not JSON: use dict, list, str, int, "
        "float, bool or None (convert sets and tuples to lists, bytes to base64 text)"
    )


# One encoder for every value: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_value(value: Any, max_bytes: int) -> str:
    """Return the JSON text of ``value``, or raise ``InvalidValue`` / ``ItemTooLarge``."""
    try:
        _check(value, "value")
        text = _ENCODER.encode(value)
        # ASCII text is one byte per character: no need to build its UTF-8 copy.
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except RecursionError:
        raise InvalidValue("value is nested too deeply to encode as JSON") from None
    except UnicodeEncodeError as err:
        raise InvalidValue(
            f"value holds text that is not valid Unicode (a lone surrogate?): {err}"
        ) from None
    except ValueError as err:  # after UnicodeEncodeError, its subclass
        # An int longer than sys.get_int_max_str_digits() (4300 by default) has no JSON
        # text Python will write or read back.
        raise InvalidValue(
            f"value cannot be written as JSON text ({err}): store such integers as strings"
        ) from None
    if size > max_bytes:
        raise ItemTooLarge(
            f"item is {size} bytes of JSON, over this list's max_item_bytes={max_bytes}: "
            "store large payloads elsewhere and append a reference, or create the list "
            "with a larger max_item_bytes"
        )
    return text


def decode_value(text: str) -> Any:
    """Inverse of :func:`encode_value`."""
    return json.loads(text)
