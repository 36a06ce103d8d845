"""Fixtures of the kit, for conformance tests and for app teams' own unit tests.

Every test gets a fresh virtual clock, fresh recorded metrics and logs, its own
namespace, and a facade client over the selected adapter (the in-memory reference when
none is selected). At teardown the namespace is reset through the adapter's required
``reset`` hook and every adapter and client the test opened is closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.clock import KitClock
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.observability import (
    RecordingLogHandler,
    RecordingMetrics,
    StorageMetrics,
    capture_logs,
)

if TYPE_CHECKING:
    from pytest_sanctum.client import StorageClient
    from pytest_sanctum.fanout import InvalidationFanout
    from pytest_sanctum.kit.history.app import HistoryRecorder


class ClientMaker:
    """Builds facade clients for one test; ``sanctum_make_client`` returns one.

    ``maker()`` gives a client over the test's adapter. ``maker.node()`` opens another
    adapter instance on the same backend (another process or node, with its own local
    cache) and gives a client over it. ``maker.reopen()`` opens a new adapter instance,
    as a restarted process would. Each client's backoff jitter draws from the run's seed,
    the test (``label``) and the client's number, so one seed replays the test.
    """

    def __init__(
        self,
        kit: KitSession,
        adapter: StorageAdapter,
        clock: VirtualClock,
        metrics: RecordingMetrics,
        label: str = "",
    ) -> None:
        self.kit = kit
        self.adapter = adapter
        self.clock = clock
        self.metrics = metrics
        self.label = label
        self._clients: list[StorageClient] = []
        self._adapters: list[StorageAdapter] = []

    def __call__(
        self,
        *,
        adapter: StorageAdapter | None = None,
        fanout: InvalidationFanout | None = None,
        principal: str = "anonymous",
        metrics: StorageMetrics | None = None,
        **settings: Any,
    ) -> StorageClient:
        """A client over ``adapter`` (default: the test's). ``settings`` go to
        ``KitSession.client_config`` (staleness_budget_ms, ttl_ms, acl, ...)."""
        from pytest_sanctum.client import create_storage_client

        client = create_storage_client(
            self.kit.client_config(**settings),
            clock=self.clock,
            metrics=metrics if metrics is not None else self.metrics,
            fanout=fanout,
            adapters={"kit": adapter if adapter is not None else self.adapter},
            principal=principal,
            rng=self.kit.random(self.label, str(len(self._clients))),
        )
        self._clients.append(client)
        return client

    def reopen(self) -> StorageAdapter:
        """A new adapter instance on the same backend, closed at teardown."""
        adapter = self.kit.open_adapter(self.clock)
        self._adapters.append(adapter)
        return adapter

    def node(self, *, fanout: InvalidationFanout | None = None, **settings: Any) -> StorageClient:
        """A client over a new adapter instance: another node with its own local cache."""
        return self(adapter=self.reopen(), fanout=fanout, **settings)

    def close(self) -> None:
        for client in self._clients:
            client.close()
        for adapter in self._adapters:
            adapter.close()


@pytest.fixture(scope="session")
def sanctum_kit(pytestconfig: pytest.Config) -> KitSession:
    """The kit run: selected adapter, capabilities, seed, profile."""
    from pytest_sanctum.plugin import kit_session

    return kit_session(pytestconfig)


@pytest.fixture
def sanctum_clock(sanctum_kit: KitSession) -> KitClock:
    """A virtual clock; TTLs, budgets and timeouts of the test's clients follow it.

    ``advance`` moves it at once. ``sleep_ms`` does too, and also waits real time (at most
    100 ms) when the adapter does not declare ``read_after_write``, so that a replica
    lagging in real time can catch up: the facade's read-after-write retries wait this way.
    """
    return sanctum_kit.new_clock()


@pytest.fixture
def sanctum_metrics() -> RecordingMetrics:
    """The metrics every client of the test records to."""
    return RecordingMetrics()


@pytest.fixture
def sanctum_logs() -> Iterator[RecordingLogHandler]:
    """The structured log events of the test (DEBUG and above)."""
    with capture_logs() as handler:
        yield handler


@pytest.fixture
def sanctum_namespace(sanctum_kit: KitSession) -> str:
    """A namespace of this test alone."""
    return sanctum_kit.new_namespace()


@pytest.fixture
def sanctum_adapter(
    sanctum_kit: KitSession, sanctum_clock: VirtualClock, sanctum_namespace: str
) -> Iterator[StorageAdapter]:
    """The raw adapter under test, opened for this test; its namespace is reset afterwards."""
    sanctum_kit.require_environment()
    adapter = sanctum_kit.open_adapter(sanctum_clock)
    try:
        yield adapter
    finally:
        try:
            adapter.reset(sanctum_namespace)
        finally:
            adapter.close()


@pytest.fixture
def sanctum_make_client(
    request: pytest.FixtureRequest,
    sanctum_kit: KitSession,
    sanctum_adapter: StorageAdapter,
    sanctum_clock: VirtualClock,
    sanctum_metrics: RecordingMetrics,
) -> Iterator[ClientMaker]:
    """Builds more clients: other settings, other principals, other nodes."""
    maker = ClientMaker(
        sanctum_kit,
        sanctum_adapter,
        sanctum_clock,
        sanctum_metrics,
        request.node.nodeid.rpartition("/")[2],
    )
    try:
        yield maker
    finally:
        maker.close()


@pytest.fixture
def sanctum_client(sanctum_make_client: ClientMaker) -> StorageClient:
    """A facade client over the adapter under test, with the default settings."""
    return sanctum_make_client()


@pytest.fixture
def sanctum_reopen(sanctum_make_client: ClientMaker) -> Callable[[], StorageAdapter]:
    """Opens a new adapter instance on the same backend (a restart after a crash)."""
    return sanctum_make_client.reopen


@pytest.fixture
def sanctum_backdoor(sanctum_kit: KitSession, sanctum_adapter: StorageAdapter) -> Backdoor:
    """Reads the backend without the adapter's read path (fallback: the adapter's stores)."""
    return sanctum_kit.backdoor(sanctum_adapter)


@pytest.fixture
def sanctum_history(sanctum_clock: VirtualClock, tmp_path: Any) -> HistoryRecorder:
    """Records the history of your clients' concurrent use and checks it against ADR-001.

    ``sanctum_history.record(client, name="worker-1")`` returns the client with its
    operations recorded; ``sanctum_history.assert_valid()`` runs the ``HIST-*`` checker.
    Facade times come from the test's virtual clock (set ``settings.real_clock`` when your
    clients use a real one); the failure timeline is written to the test's ``tmp_path``.
    """
    from pytest_sanctum.kit.history.app import HistoryRecorder

    return HistoryRecorder(sanctum_clock, tmp_path)
