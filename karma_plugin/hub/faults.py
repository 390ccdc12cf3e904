"""What can go wrong between `karma-build` and the Hugging Face Hub, and what we do about it.

Every Hub call of the package (push, pull, a Hub pool for binarize) goes through
``with_retries``, which tells faults apart by huggingface_hub's own public error classes and
HTTP status codes, so the same code serves huggingface_hub 1.x and 2.x:

========================  =============================================  ==================  ====
fault                     seen as                                        what we do          exit
========================  =============================================  ==================  ====
offline                   ``OfflineModeIsEnabled`` (HF_HUB_OFFLINE set)  one line, no retry  1
unreachable               connection refused, DNS failure, connect       one line, no retry  1
                          timeout, proxy refused
token                     HTTP 401, 403                                  one line            1
not found                 HTTP 404                                       one line            2
transient                 HTTP 5xx, 408, 429; a connection dropped       retried with        1
                          mid-answer; a read timeout                     backoff, then a line
other Hub answer          any other HTTP status                          one line            1
========================  =============================================  ==================  ====

An unreachable Hub is not retried: a refused connection or an unknown host does not heal in
the seconds a retry waits, and a user without network should hear so at once, not after
minutes. A Hub that answered with a 5xx, or dropped a connection it had accepted, is busy or
restarting: that is what backoff is for.

huggingface_hub raises its transport errors from the HTTP library it is built on (httpx in
1.x, httpx2 in 2.x) and exports no alias for them in 1.x, so the library is found through
``HfHubHTTPError``, which subclasses that library's ``HTTPError``.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import importlib
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, TypeVar

from karma_plugin.errors import InputError, KarmaError, RemoteError

DEFAULT_RETRIES = 5
MAX_WAIT_S = 30.0
# Every request of ours, of huggingface_hub's and of datasets' (through huggingface_hub's shared
# client) is bounded: a connection must be made within CONNECT_TIMEOUT_S (a silent host, whose
# connect never completes, fails in that time instead of the system's two minutes), and an
# answer must not stall for longer than READ_TIMEOUT_S between two bytes (a Hub that accepts
# and never answers is then a transient fault: retried, then one line).
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
RETRY_STATUS = frozenset({408, 429})  # and every 5xx
T = TypeVar("T")


class Fault(enum.Enum):
    OFFLINE = "offline"
    UNREACHABLE = "unreachable"
    TOKEN = "token"
    NOT_FOUND = "not found"
    TRANSIENT = "transient"
    HUB_ANSWER = "hub answer"  # the Hub answered with another error status


@functools.cache
def _http_library() -> ModuleType:
    """httpx (huggingface_hub 1.x) or httpx2 (2.x): whatever huggingface_hub itself uses."""
    from huggingface_hub.errors import HfHubHTTPError

    base = next(c for c in HfHubHTTPError.__mro__[1:] if c.__name__ == "HTTPError")
    return importlib.import_module(base.__module__.partition(".")[0])


def status(exc: BaseException) -> int | None:
    """The HTTP status of a huggingface_hub error, or ``None`` when the Hub did not answer."""
    code = getattr(getattr(exc, "response", None), "status_code", None)
    return code if isinstance(code, int) else None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it: datasets wraps a Hub fault in its own errors."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _classify_one(exc: BaseException) -> Fault | None:
    from huggingface_hub.errors import OfflineModeIsEnabled

    http = _http_library()
    if isinstance(exc, OfflineModeIsEnabled):
        return Fault.OFFLINE
    code = status(exc)
    if code is not None:
        if code in (401, 403):
            return Fault.TOKEN
        if code == 404:
            return Fault.NOT_FOUND
        if code in RETRY_STATUS or code >= 500:
            return Fault.TRANSIENT
        return Fault.HUB_ANSWER
    if isinstance(exc, http.ConnectError | http.ConnectTimeout | http.ProxyError):
        return Fault.UNREACHABLE
    if isinstance(exc, http.UnsupportedProtocol):  # HF_ENDPOINT without http(s)://
        return Fault.UNREACHABLE
    if isinstance(exc, http.TransportError):  # dropped connection, read/write/pool timeout
        return Fault.TRANSIENT
    # huggingface_hub 1.x closes its shared client after a failed connection and then retries
    # on the closed client, which raises this instead of the ConnectError it started from.
    if isinstance(exc, RuntimeError) and "client has been closed" in str(exc):
        return Fault.UNREACHABLE
    return None


def classify(exc: BaseException) -> tuple[Fault, BaseException] | None:
    """The fault behind ``exc`` and the error that shows it; ``None`` if no Hub fault."""
    chain = list(_chain(exc))
    for link in chain:
        fault = _classify_one(link)
        if fault is not None:
            return fault, link
    # Plain socket errors, as some clients (datasets' own fallbacks) raise them.
    for link in chain:
        if isinstance(link, ConnectionRefusedError):
            return Fault.UNREACHABLE, link
        if isinstance(link, ConnectionError | TimeoutError):
            return Fault.TRANSIENT, link
    return None


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: the cache only, no request."""
    from huggingface_hub import is_offline_mode

    return is_offline_mode()


def endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def reason(exc: BaseException) -> str:
    """One short line from the status and the server's message; never headers or tokens."""
    code = status(exc)
    if code is not None:
        detail = (getattr(exc, "server_message", None) or "").strip().splitlines()
        return f"HTTP {code}" + (f" ({detail[0]})" if detail else "")
    text = str(exc).strip().splitlines()
    return type(exc).__name__ + (f": {text[0]}" if text else "")


def _why_unreachable(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError):  # huggingface_hub 1.x's closed client, see above
        return "the connection failed"
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", (str(exc).strip().splitlines() or [""])[0])
    return text.lower() if text else type(exc).__name__


def _token_error(exc: BaseException, what: str, repo_id: str, access: str) -> RemoteError:
    from huggingface_hub import get_token

    if get_token():
        return RemoteError(
            f"{what} failed: the Hub refused the token ({reason(exc)}): check HF_TOKEN or "
            f"`hf auth login`; {repo_id} needs a token with {access} access to "
            f"{repo_id.split('/')[0]}"
        )
    return RemoteError(
        f"{what} failed: the Hub asks for a token ({reason(exc)}): {repo_id} may be private, "
        "gated or missing; set HF_TOKEN or run `hf auth login`"
    )


def _not_found(exc: BaseException, what: str, repo_id: str) -> InputError:
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, RevisionNotFoundError):
        return InputError(f"{what} failed: {repo_id} has no such revision ({reason(exc)})")
    if isinstance(exc, RepositoryNotFoundError):
        return InputError(f"{what} failed: there is no dataset repo {repo_id} on the Hub")
    # Not the Hub's own "no such repo/revision/file": a wrong HF_ENDPOINT answers like this.
    return InputError(f"{what} failed: not found at {endpoint()} ({reason(exc)})")


def usable_token() -> str | None:
    """The token huggingface_hub sends (HF_TOKEN or the saved login), or None; refused (exit
    2, before any request) when an HTTP header cannot carry it: httpx would fail deep inside
    the request with a traceback that shows part of it."""
    from huggingface_hub import get_token

    token = get_token()
    if token and not (token.isascii() and token.isprintable()):
        raise InputError(
            "the Hugging Face token (HF_TOKEN or the saved login) holds characters an HTTP "
            "header cannot carry (non-ASCII or control characters): check HF_TOKEN, or run "
            "`hf auth login` again"
        )
    return token


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{variable} must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise InputError(f"{variable} must be a positive number of seconds, got {text!r}")
    return value


def timeouts() -> dict[str, float]:
    """The longest wait of any one request, per phase (httpx's names), in seconds:
    ``KARMA_HUB_CONNECT_TIMEOUT`` (default 10) to connect, ``KARMA_HUB_TIMEOUT`` (default 60)
    for each read, write and wait for a pooled connection."""
    stall = _seconds("KARMA_HUB_TIMEOUT", READ_TIMEOUT_S)
    return {
        "connect": _seconds("KARMA_HUB_CONNECT_TIMEOUT", CONNECT_TIMEOUT_S),
        "read": stall,
        "write": stall,
        "pool": stall,
    }


def _bounded(request: object) -> None:
    """A request hook of the shared client: caps each phase's timeout of the request at
    ``timeouts()`` (huggingface_hub sends most API calls with none, downloads with 10 s)."""
    extensions = getattr(request, "extensions", None)
    if not isinstance(extensions, dict):
        return
    wanted = dict(extensions.get("timeout") or {})
    for phase, limit in timeouts().items():
        given = wanted.get(phase)
        wanted[phase] = limit if given is None else min(float(given), limit)
    extensions["timeout"] = wanted


@functools.cache
def bound_requests() -> None:
    """Give huggingface_hub's shared HTTP client (httpx in 1.x, httpx2 in 2.x; datasets reads
    the Hub through it too) the ``_bounded`` hook, once per process. Its client factory is
    wrapped, not replaced: a client made again after a failed connection keeps the hook, and
    a factory set by a program that uses this package keeps its settings."""
    import huggingface_hub
    from huggingface_hub.utils import _http

    made = getattr(_http, "_GLOBAL_CLIENT_FACTORY", None) or _http.default_client_factory

    def factory() -> Any:
        client = made()
        hooks = dict(client.event_hooks)
        client.event_hooks = {**hooks, "request": [*hooks.get("request", []), _bounded]}
        return client

    huggingface_hub.set_client_factory(factory)


def retry_wait() -> float:
    """The first wait between tries (seconds; doubled each try, at most ``MAX_WAIT_S``)."""
    return float(os.environ.get("KARMA_HUB_RETRY_WAIT", "2"))


def with_retries(
    call: Callable[[], T],
    what: str,
    repo_id: str,
    retries: int = DEFAULT_RETRIES,
    *,
    access: str = "read",
    wait_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call`` quietly (see ``quiet_hub``); retry transient faults with backoff.

    Each Hub fault becomes one ``RemoteError`` line (exit 1), a 404 an ``InputError`` (exit 2).
    Errors that are not Hub faults pass through unchanged, for the caller to judge.
    ``KARMA_HUB_RETRY_WAIT`` sets the first wait (seconds; doubled each try, at most 30);
    every request is bounded by ``timeouts()``.
    """
    base = retry_wait() if wait_s is None else wait_s
    usable_token()
    timeouts()  # a bad KARMA_HUB_*TIMEOUT is one line here, not inside a request
    bound_requests()
    for attempt in range(retries + 1):
        try:
            with quiet_hub():
                return call()
        except KarmaError:  # ours pass through untouched
            raise
        except Exception as exc:
            found = classify(exc)
            if found is None:
                raise
            fault, cause = found
            if fault in (Fault.UNREACHABLE, Fault.TRANSIENT) and offline():
                fault = Fault.OFFLINE  # datasets reports a cache miss in offline mode so
            if fault is Fault.OFFLINE:
                raise RemoteError(
                    f"{what} failed: HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set and the "
                    "local cache cannot serve this; unset it to reach the Hub"
                ) from exc
            if fault is Fault.UNREACHABLE:
                raise RemoteError(
                    f"{what} failed: cannot reach the Hub at {endpoint()} "
                    f"({_why_unreachable(cause)}); check the network, a proxy, or HF_ENDPOINT"
                ) from exc
            if fault is Fault.TOKEN:
                raise _token_error(cause, what, repo_id, access) from exc
            if fault is Fault.NOT_FOUND:
                raise _not_found(cause, what, repo_id) from exc
            if fault is Fault.HUB_ANSWER:
                raise RemoteError(f"{what} failed: {reason(cause)}") from exc
            if attempt == retries:
                tries = f" after {retries + 1} tries" if retries else ""
                raise RemoteError(f"{what} failed{tries}: {reason(cause)}") from exc
            sleep(min(MAX_WAIT_S, base * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def quiet_hub() -> Iterator[None]:
    """Keep huggingface_hub's and datasets' progress bars, retry notes and warnings off
    stderr while they work: a failure must read as one line, with nothing in front of it."""
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )
    from huggingface_hub.utils import logging as hub_logging

    # datasets only speaks if it is loaded; loading it here would cost `push` a second.
    datasets = sys.modules.get("datasets")
    hub_bars = not are_progress_bars_disabled()
    hub_level = hub_logging.get_verbosity()
    disable_progress_bars()
    hub_logging.set_verbosity_error()
    if datasets is not None:
        data_bars = datasets.is_progress_bar_enabled()
        data_level = datasets.logging.get_verbosity()
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hub_logging.set_verbosity(hub_level)
        if hub_bars:
            enable_progress_bars()
        if datasets is not None:
            datasets.logging.set_verbosity(data_level)
            if data_bars:
                datasets.enable_progress_bars()
