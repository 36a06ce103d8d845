"""Correlation ids: one id ties together every log event and error of a logical request.

A caller sets an id for a block with ``correlation_scope``; the facade attaches it (or a
fresh id per operation when none is set) to every log event and every ``SanctumError``.

The id lives in a ``contextvars.ContextVar``. It therefore follows ``asyncio`` tasks
(each task starts with a copy of its creator's context) and ``asyncio.to_thread``, but
not a plain ``threading.Thread`` nor ``loop.run_in_executor``: run the target with
``contextvars.copy_context().run`` to carry it there.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "CorrelationRef",
    "correlation_ref",
    "correlation_scope",
    "correlation_text",
    "current_correlation_id",
    "ensure_correlation_id",
    "new_correlation_id",
]

_CURRENT: ContextVar[str | None] = ContextVar("sanctum_correlation_id", default=None)

_prefix = secrets.token_hex(6)
_counter = itertools.count(1)


def _new_prefix() -> None:
    """Draw a new process prefix, so a forked child never repeats its parent's ids."""
    global _prefix
    _prefix = secrets.token_hex(6)


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent where there is no fork
    os.register_at_fork(after_in_child=_new_prefix)


def new_correlation_id() -> str:
    """A new id: a random 12-hex process prefix, ``-``, and a process-wide counter.

    The random 48-bit prefix (redrawn in forked children) keeps ids unique across
    processes; the counter keeps them unique inside one, and ``next`` on an
    ``itertools.count`` is atomic under the GIL. Example: ``"5f2a9c01b3de-42"``.
    """
    return f"{_prefix}-{next(_counter)}"


def current_correlation_id() -> str | None:
    """The id set by the innermost enclosing ``correlation_scope``, or ``None``."""
    return _CURRENT.get()


def ensure_correlation_id() -> str:
    """The current id, else a new one; the new one is not stored in the context."""
    return correlation_text(correlation_ref())


CorrelationRef = str | int
"""An operation's correlation id as the facade carries it: the caller's id (a ``str``),
or this process's next counter value, which becomes ``"<prefix>-<n>"`` only when a log
event or an error needs the text (most operations never do)."""


def correlation_ref() -> CorrelationRef:
    """The current id, else the next counter value: ``correlation_text`` makes it an id."""
    current = _CURRENT.get()
    return current if current is not None else next(_counter)


def correlation_text(ref: CorrelationRef) -> str:
    """The id a ``correlation_ref()`` stands for (the same text for the same ref in a process)."""
    return ref if type(ref) is str else f"{_prefix}-{ref}"


@contextmanager
def correlation_scope(correlation_id: str | None = None) -> Iterator[str]:
    """Make ``correlation_id`` (a new one when ``None``) current for the block; yield it.

    Scopes nest: leaving one restores the id that was current before it. An empty id is
    rejected with ``ValueError`` because it could not be told apart from a missing one
    in logs.
    """
    if correlation_id == "":
        raise ValueError("a correlation id must not be empty")
    scoped = new_correlation_id() if correlation_id is None else correlation_id
    token = _CURRENT.set(scoped)
    try:
        yield scoped
    finally:
        _CURRENT.reset(token)
