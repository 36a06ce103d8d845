"""Per-namespace access control: which principal may run which operation.

The configuration maps namespace (or ``*``) to principal (or ``*``) to operation
patterns. With no ACL configured every operation is allowed; once any rule exists,
anything not granted is denied. An exact namespace entry replaces the ``*`` entry; a
principal's own patterns and the ``*`` principal's patterns add up.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

OPERATIONS: tuple[str, ...] = (
    "blob.put",
    "blob.get",
    "blob.head",
    "blob.delete",
    "blob.list",
    "record.put",
    "record.get",
    "record.delete",
    "stream.append",
    "stream.read",
    "stream.ack",
    "cache.get",
    "cache.set",
    "cache.delete",
)
"""Every operation the facade offers, as ACL rules and metrics name them."""

MAX_CACHED_GRANTS = 4096
"""How many (namespace, principal) decisions a policy keeps; the oldest is dropped (and
computed again when next needed), so callers' names cannot grow memory."""


class AccessPolicy:
    """Answers "may this principal run this operation on this namespace?" from the config."""

    def __init__(self, rules: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        self._rules = rules
        self._granted: dict[tuple[str, str], frozenset[str]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether any rule exists (else everything is allowed and nothing is logged)."""
        return bool(self._rules)

    def granted(self, namespace: str, principal: str) -> frozenset[str]:
        """The operations granted to ``principal`` on ``namespace`` (cached, at most
        ``MAX_CACHED_GRANTS`` pairs)."""
        cached = self._granted.get((namespace, principal))
        if cached is not None:
            return cached
        by_principal = self._rules.get(namespace, self._rules.get("*", {}))
        patterns = (*by_principal.get(principal, ()), *by_principal.get("*", ()))
        ops = frozenset(
            op for op in OPERATIONS if any(fnmatchcase(op, pattern) for pattern in patterns)
        )
        with self._lock:
            if len(self._granted) >= MAX_CACHED_GRANTS:
                del self._granted[next(iter(self._granted))]
            self._granted[(namespace, principal)] = ops
        return ops
