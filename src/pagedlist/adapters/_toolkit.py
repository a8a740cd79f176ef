"""The adapter toolkit: the pieces every backend adapter needs, written once.

``docs/adapters.md`` is the guide; this module is its reference. Nothing here imports an
SDK, and nothing here is for applications: it is for the authors of
``pagedlist/adapters/*.py`` (and of adapters outside the package).

* :class:`UrlOptions`: a URL's query options, refusing unknown ones (naming the accepted
  options and the URL form, the password redacted), read through typed parsers —
  :meth:`~UrlOptions.flag`, :meth:`~UrlOptions.number`, :meth:`~UrlOptions.whole`,
  :meth:`~UrlOptions.choice`, :meth:`~UrlOptions.text`;
* :func:`redact`: a URL without its password, for messages and ``describe()``;
* :func:`is_loopback`: whether a host (or a URL's host) is this machine, e.g. to pick an
  emulator's published key;
* :func:`new_version`: a fresh row version token;
* :class:`ErrorTable` and :class:`Rule`: one table per SDK from error codes (or exception
  classes) to ``pagedlist.errors`` classes and message templates, so an adapter maps
  errors in one ``except`` clause, by code and never by message text;
* :class:`Capabilities` (defined in :mod:`pagedlist.core.capabilities`): the base of the
  class each adapter declares, saying how the conformance suite may test it;
* :func:`host_port`: ``HOST[:PORT]`` with a bad port a ``ConfigError``;
* :func:`not_a_list`, :func:`not_an_integer`, :func:`too_many_entries`: the errors every
  backend raises, with one class each, for the faults ``docs/contract.md`` names;
* :func:`tallied` and :class:`Tally`: the running totals every adapter's ``stats()``
  reports under the same keys (``calls``, ``errors``, ``retries``, ``units``), counted
  around the adapter's store calls so no adapter counts them by hand;
  :func:`billed_units` reads the billed units out of an adapter's own totals.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import ipaddress
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pagedlist.core import deadline as _deadline
from pagedlist.core.capabilities import Capabilities
from pagedlist.core.wrapper import CALLS
from pagedlist.errors import (
    ConfigError,
    ContractViolation,
    InvalidValue,
    PagedListError,
    Throttled,
    UsageError,
)

__all__ = [
    "STATS_KEYS",
    "Capabilities",
    "ErrorTable",
    "Rule",
    "Tally",
    "UrlOptions",
    "billed_units",
    "class_keys",
    "host_port",
    "is_loopback",
    "new_version",
    "not_a_list",
    "not_an_integer",
    "redact",
    "tallied",
    "too_many_entries",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


# --- URLs ---------------------------------------------------------------------------------


def redact(url: str) -> str:
    """``url`` with the password of its user-info part replaced by ``***``.

    Works on URLs ``urlsplit`` refuses (a broken IPv6 bracket) and on Redis Cluster's
    comma-separated host lists. A user-info part without a colon (``redis://secret@host``)
    is taken for a password, as Redis clients take it, so it is redacted too::

        >>> redact("redis://user:s3cret@host:6379/0")
        'redis://user:***@host:6379/0'
        >>> redact("redis+cluster://:s3cret@a:1,b:2")
        'redis+cluster://:***@a:1,b:2'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # The user-info ends at the last "@" before the query; a password may hold a "/".
    query_at = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, query_at)
    if at < 0:
        return url
    auth, hosts = rest[:at], rest[at + 1 :]
    user, colon, _ = auth.partition(":")
    if "/" in user:  # the "@" is in a path (sqlite:///dir/a@b.db), not after a user-info
        return url
    return f"{scheme}://{user + ':' if colon else ''}***@{hosts}"


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` — a name, an IP address, ``[::1]``, or a whole URL — is this machine.

    ``localhost`` and every loopback address (``127.0.0.0/8``, ``::1``) are; names are
    never resolved (no surprise network calls), so only ``localhost`` counts among them.
    """
    if not host:
        return False
    if "://" in host:
        try:
            host = urlsplit(host).hostname or ""
        except ValueError:
            return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_version() -> str:
    """A fresh row version: 64 random bits as 16 hex digits.

    Random, never a counter: a row deleted and created again must not get a version an
    old reader still holds (the ABA problem), so a stale ``replace`` can never succeed.
    """
    return secrets.token_hex(8)


class UrlOptions:
    """The query options of a store URL, checked against the options an adapter accepts.

    Built from the URL (its query string is read) or from a query string already split
    off. Unknown options are refused at once with a ``ConfigError`` naming the accepted
    ones and the URL form; each typed getter refuses a malformed value the same way. A
    repeated option keeps its last value; an empty value (``timeout=``) counts as absent::

        opts = UrlOptions(url, accepted=("timeout", "create"), form="x://HOST/DB[?...]")
        timeout = opts.number("timeout", 5.0)
        create = opts.flag("create")
    """

    def __init__(
        self,
        url: str,
        *,
        accepted: Iterable[str],
        form: str,
        query: str | None = None,
        what: str = "store URL",
    ) -> None:
        self.url = url
        self.form = form
        self.what = what
        self.accepted = tuple(sorted(set(accepted)))
        if query is None:
            query = url.partition("?")[2].partition("#")[0]
        for part in query.split("&"):
            if part and "=" not in part:
                raise self.error(f"option {part!r} has no value: write {part}=VALUE")
        self._values = {k: v for k, v in parse_qsl(query, keep_blank_values=True) if v != ""}
        named = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
        unknown = sorted(named - set(self.accepted))
        if unknown:
            raise self.error(
                f"unknown option(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(self.accepted) or 'none'}"
            )

    def error(self, why: str) -> ConfigError:
        """A ``ConfigError`` saying what is wrong with the URL, naming the accepted form."""
        return ConfigError(f"{self.what} {redact(self.url)!r} is malformed: {why}. Use {self.form}")

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def given(self) -> list[str]:
        """The names of the options the URL sets (non-empty), sorted."""
        return sorted(self._values)

    def text(self, name: str, default: str | None = None) -> str | None:
        """The option's text as given (percent-decoded), or ``default``."""
        self._check_known(name)
        return self._values.get(name, default)

    def flag(self, name: str, default: bool = False) -> bool:
        """A yes/no option: ``1 true yes on`` or ``0 false no off`` (any case)."""
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self.error(f"{name}={raw!r} must be true or false")

    def number(self, name: str, default: float, *, positive: bool = True) -> float:
        """A finite number (e.g. seconds): above 0 with ``positive`` (the default), else at
        least 0."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.error(f"{name}={raw!r} must be a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(f"{name}={raw!r} must be a finite number")
        if positive and not value > 0:
            raise self.error(f"{name}={raw!r} must be a positive number")
        if value < 0:
            raise self.error(f"{name}={raw!r} must not be negative")
        return value

    def whole(self, name: str, default: int, *, minimum: int = 1) -> int:
        """A whole number of at least ``minimum``."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.error(f"{name}={raw!r} must be a whole number") from None
        if value < minimum:
            raise self.error(f"{name}={raw!r} must be at least {minimum}")
        return value

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        """One of ``choices`` (compared in lower case)."""
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() not in choices:
            raise self.error(f"{name}={raw!r} must be one of {', '.join(choices)}")
        return raw.lower()

    def _check_known(self, name: str) -> None:
        if name not in self.accepted:
            # An adapter reading an option it did not declare: its bug, not the user's.
            raise ContractViolation(f"option {name!r} read but not declared in accepted=")


def host_port(
    text: str, default_port: int | None, bad: Callable[[str], ConfigError]
) -> tuple[str, int | None]:
    """``HOST[:PORT]`` or ``[IPV6][:PORT]`` as ``(host, port)``; ``default_port`` when none.

    ``bad(why)`` builds the error for a malformed part (usually :meth:`UrlOptions.error`),
    so a port that is not a number from 1 to 65535 is a ``ConfigError``, never a
    ``ValueError``.
    """
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close:
            raise bad(f"IPv6 address in {text!r} lacks its closing ']'")
        if rest and not rest.startswith(":"):
            raise bad(f"cannot read host:port from {text!r}")
        port_text = rest[1:]
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise bad(f"no host in {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise bad(f"port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """What one SDK error becomes: a ``pagedlist.errors`` class and a message template.

    The template is formatted with the fields the adapter passes to
    :meth:`ErrorTable.error` (conventionally ``what`` — the call — and ``where`` — the
    store, never a secret) plus ``detail`` (the SDK's message, first line) and ``code``
    (the key that matched). ``retry_after`` is the wait a ``Throttled`` rule suggests when
    the SDK's answer names none.
    """

    error: type[PagedListError]
    message: str
    retry_after: float | None = None


def class_keys(err: BaseException) -> Iterator[Hashable]:
    """The exception's classes, most specific first: the default keys of a table."""
    yield from type(err).__mro__


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class ErrorTable:
    """Maps an SDK's exceptions to pagedlist errors through one table keyed on codes.

    ``keys(err)`` lists the codes of one exception, most specific first: an AWS error
    code, an HTTP status and sub-status, a SQLite extended then primary result code, a
    Redis error reply's first word, and (by default) the exception's classes. The first
    key found in ``rules`` decides; with none, ``default`` does. ::

        ERRORS = ErrorTable(
            {
                "ThrottlingException": Rule(Throttled, "{where} throttled {what}: {detail}"),
                ReadTimeoutError: Rule(DeadlineExceeded, "{where}: no answer to {what} in time "
                                       "(its outcome is unknown): {detail}"),
            },
            keys=lambda err: (aws_code(err), *class_keys(err)),
            default=Rule(StoreUnavailable, "{where}: {what} failed: {detail}"),
        )
        ...
        except ClientError as err:
            raise ERRORS.error(err, what="PutItem", where=self.where) from err

    The error is returned chained to ``err`` (``__cause__``); raise it ``from err``.
    """

    def __init__(
        self,
        rules: Mapping[Hashable, Rule],
        *,
        keys: Callable[[BaseException], Iterable[Hashable]] = class_keys,
        default: Rule | None = None,
    ) -> None:
        self.rules = dict(rules)
        self.keys = keys
        self.default = default

    def match(self, err: BaseException) -> tuple[Hashable, Rule] | None:
        """The first of ``err``'s keys that has a rule, with that rule; else the default
        (keyed ``None``); else ``None``."""
        for key in self.keys(err):
            if key is not None and key in self.rules:
                return key, self.rules[key]
        return None if self.default is None else (None, self.default)

    def error(
        self, err: BaseException, *, retry_after: float | None = None, **fields: Any
    ) -> PagedListError:
        """The pagedlist error for ``err``, chained to it.

        ``retry_after`` (seconds the store asked to wait) overrides the rule's for
        ``Throttled``. An exception no rule covers becomes a ``ContractViolation`` naming
        it: the adapter's table is incomplete.
        """
        found = self.match(err)
        if found is None:
            mapped: PagedListError = ContractViolation(
                f"unmapped {type(err).__name__} from the store SDK: {_first_line(err)}"
            )
        else:
            key, rule = found
            code = key.__name__ if isinstance(key, type) else key
            # The adapter's own fields win: it may pass a cleaner ``detail`` than str(err).
            values = _Fields(
                {"detail": _first_line(err), "code": "" if code is None else str(code), **fields}
            )
            message = rule.message.format_map(values)
            if issubclass(rule.error, Throttled):
                wait = rule.retry_after if retry_after is None else retry_after
                mapped = rule.error(message, retry_after=wait)
            else:
                mapped = rule.error(message)
        mapped.__cause__ = err
        return mapped


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]


# --- faults every backend reports with the same class -----------------------------------
#
# docs/contract.md states these (clauses A10, A11, I7); each adapter raises them through
# these functions so the class and the message cannot drift apart between backends.


def not_a_list(key: str, field: str, value: Any) -> InvalidValue:
    """The error for an append to field ``field`` of row ``key`` that holds no list."""
    return InvalidValue(
        f"field {field!r} of row {key!r} holds {_kind(value)}, not a list, so it cannot be "
        "appended to; nothing was written: append to a list field (or a missing one)"
    )


def not_an_integer(key: str, field: str, value: Any) -> InvalidValue:
    """The error for an increment of field ``field`` of row ``key`` that holds no integer."""
    return InvalidValue(
        f"field {field!r} of row {key!r} holds {_kind(value)}, not an integer, so it cannot "
        "be incremented; nothing was written: increment an integer field (or a missing one)"
    )


def too_many_entries(key: str, count: int, limit: int) -> UsageError:
    """The error for an append of ``count`` entries, over ``limits.append_entries``."""
    return UsageError(
        f"append of {count} entries to row {key!r}: this store takes at most {limit} "
        "entries per atomic append (limits.append_entries); nothing was written: split "
        "the batch"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    name = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    name.update({list: "a list", dict: "an object"})
    return name.get(type(value), f"a {type(value).__name__}")


# --- stats(): the same keys on every adapter -----------------------------------------------

#: The keys every adapter's ``stats()`` has (adapters add their own beside them).
STATS_KEYS = ("calls", "errors", "retries", "units")

#: Older per-adapter totals that are billed units, and the kind each is reported as.
_LEGACY_UNITS = {"read_units": "read", "write_units": "write", "request_charge_ru": "ru"}

S = TypeVar("S", bound=type)


def billed_units(stats: Mapping[str, Any]) -> dict[str, float]:
    """The billed units in an adapter's totals: its ``units`` mapping (kind to running
    total), else its older keys (``read_units``, ``write_units``, ``request_charge_ru``).
    Empty for stores that bill nothing."""
    units = stats.get("units")
    if isinstance(units, Mapping):
        return {str(k): float(v) for k, v in units.items()}
    return {kind: float(stats[key]) for key, kind in _LEGACY_UNITS.items() if key in stats}


# The store whose call is running in this thread or task: a store call an adapter makes
# through another of its own (a default ``get_many`` calling ``get``) is counted once.
_inside: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "pagedlist_tally_inside", default=None
)
# The last call that failed transiently in this thread or task, as (store, call, the
# operation's deadline): the same call again within the same operation is the driver's
# retry (the driver repeats exactly the failed call, see ``pagedlist.core.driver``).
_failed: contextvars.ContextVar[tuple[int, str, float] | None] = contextvars.ContextVar(
    "pagedlist_tally_failed", default=None
)


class Tally:
    """One store's running totals: store calls, errors by class, retries the driver made
    of its calls. Thread-safe; :func:`tallied` keeps one per store object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0
        self.errors: Counter[str] = Counter()

    def started(self, owner: object, name: str) -> None:
        """A store call ``name`` begins (a retry if it repeats one that just failed)."""
        failed = _failed.get()
        retry = False
        if failed is not None:
            at = _deadline.deadline()
            retry = at is not None and failed == (id(owner), name, at)
            _failed.set(None)
        with self._lock:
            self.calls += 1
            if retry:
                self.retries += 1

    def failed(self, owner: object, name: str, err: BaseException) -> None:
        """It raised ``err``."""
        with self._lock:
            self.errors[type(err).__name__] += 1
        at = _deadline.deadline()
        if getattr(err, "retryable", False) and at is not None:
            _failed.set((id(owner), name, at))

    def snapshot(self, own: Mapping[str, Any]) -> dict[str, Any]:
        """The adapter's own totals ``own`` with the common keys added."""
        with self._lock:
            common = {
                "calls": self.calls,
                "errors": dict(self.errors),
                "retries": self.retries,
                "units": billed_units(own),
            }
        return {**own, **common}


def _tally(store: Any) -> Tally:
    found: Tally | None = store.__dict__.get("_pagedlist_tally")
    if found is None:
        # setdefault keeps one Tally when two threads make the first call at once.
        found = store.__dict__.setdefault("_pagedlist_tally", Tally())
    assert found is not None
    return found


def _counted(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
            if _inside.get() is self:
                return await method(self, *args, **kwargs)
            tally = _tally(self)
            tally.started(self, name)
            token = _inside.set(self)
            try:
                return await method(self, *args, **kwargs)
            except Exception as err:
                tally.failed(self, name, err)
                raise
            finally:
                _inside.reset(token)

        return acall

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _inside.get() is self:
            return method(self, *args, **kwargs)
        tally = _tally(self)
        tally.started(self, name)
        token = _inside.set(self)
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            tally.failed(self, name, err)
            raise
        finally:
            _inside.reset(token)

    return call


def tallied(cls: S) -> S:
    """Class decorator for adapters: count every store call (:data:`CALLS`) and give
    ``stats()`` the common keys, on top of what the adapter's own ``stats()`` returns:

    * ``calls``: store calls made (round trips as the core sees them);
    * ``errors``: errors raised, by ``pagedlist.errors`` class name;
    * ``retries``: calls the driver repeated after a transient error;
    * ``units``: billed units by kind (``read``, ``write``, ``ru``), ``{}`` where nothing
      is billed (from the adapter's ``units`` total or its older unit keys).

    Applying it twice (or to a subclass of a tallied class) counts once.
    ``open_store`` applies it to every adapter class it loads.
    """
    if cls.__dict__.get("_pagedlist_tallied"):
        return cls
    for name in sorted(CALLS):
        method = getattr(cls, name, None)
        if method is None or getattr(method, "_pagedlist_counted", False):
            continue
        wrapped = _counted(name, method)
        wrapped._pagedlist_counted = True  # type: ignore[attr-defined]
        setattr(cls, name, wrapped)
    own_stats = cls.stats  # type: ignore[attr-defined]

    if not getattr(own_stats, "_pagedlist_counted", False):

        @functools.wraps(own_stats)
        def stats(self: Any) -> Mapping[str, Any]:
            return _tally(self).snapshot(own_stats(self))

        stats._pagedlist_counted = True  # type: ignore[attr-defined]
        cls.stats = stats  # type: ignore[attr-defined]
    cls._pagedlist_tallied = True  # type: ignore[attr-defined]
    return cls
