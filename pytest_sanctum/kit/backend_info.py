"""What an adapter's test support says about the backend behind it, for the report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """The backend product an adapter talks to and its version, as the report shows them.

    Returned by the ``pytest_sanctum_backend_info`` hook or an adapter's ``backend_info()``
    method: ``BackendInfo("PostgreSQL", "16.4")``. ``version`` is ``None`` when the backend
    does not say.
    """

    name: str
    version: str | None = None
