"""One kit run: which adapter, where the choice came from, its capabilities, seed and profile.

The plugin builds a ``KitSession`` at configure time and every fixture and hook reads it.
Opening adapters, provisioning and the environment check happen here, once per worker.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import secrets
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pytest

from pytest_sanctum.adapters.base import AdapterFactory, StorageAdapter
from pytest_sanctum.clock import Clock, VirtualClock
from pytest_sanctum.errors import BackendUnavailableError, ConfigError, SanctumError
from pytest_sanctum.kit.backdoor import AdapterProbe, Backdoor
from pytest_sanctum.kit.clock import KitClock
from pytest_sanctum.kit.masks import MaskedAdapter
from pytest_sanctum.kit.reference_cache import OPTION as REFERENCE_CACHE_OPTION
from pytest_sanctum.kit.reference_cache import ReferenceCacheAdapter
from pytest_sanctum.types import Capabilities

if TYPE_CHECKING:
    from hypothesis import settings as HypothesisSettings

    from pytest_sanctum.config import StorageConfigV1
    from pytest_sanctum.kit.backend_faults import FaultInjector
    from pytest_sanctum.kit.backend_info import BackendInfo
    from pytest_sanctum.kit.property_runs import FailureWitness

REQUIRE_BACKEND_ENV = "SANCTUM_REQUIRE_BACKEND"
"""1: an unreachable backend fails the run instead of skipping as environment; 0: it skips
(``--sanctum-require-backend`` and the ini key ``sanctum_require_backend`` say the same)."""

PROFILES: dict[str, dict[str, Any]] = {
    "default": {"max_examples": 25, "stateful_step_count": 20},
    "thorough": {"max_examples": 300, "stateful_step_count": 60},
    "ci": {"max_examples": 60, "stateful_step_count": 30, "derandomize": True, "database": None},
}
"""Hypothesis profiles of the property tests: quick by default, ``thorough``, derandomised ``ci``."""


@dataclass(frozen=True, slots=True)
class AdapterChoice:
    """The adapter asked for and where that came from (shown in the report header)."""

    spec: str
    source: str
    selected: bool


class KitSession:
    """The state of one kit run in one pytest process (one xdist worker)."""

    def __init__(
        self,
        config: pytest.Config,
        choice: AdapterChoice,
        factory: AdapterFactory,
        options: Mapping[str, object],
        mask: tuple[str, ...],
        profile: str,
        seed: int,
        worker_id: str,
        faults: tuple[str, ...] = (),
        *,
        reference_cache: bool = False,
        require_backend: str | None = None,
    ) -> None:
        self.config = config
        self.choice = choice
        self.factory = factory
        self.options = dict(options)
        self._given_options = dict(options)
        self.mask = mask
        self.profile = profile
        self.seed = seed
        self.worker_id = worker_id
        self.faults = faults
        """Fault kinds the history contracts inject (``--sanctum-faults``)."""
        self.reference_cache = reference_cache
        """Whether the adapter runs behind the reference cache (``--sanctum-reference-cache``)."""
        # Random, not derived from the seed: two runs with one seed on one backend must not
        # share namespaces.
        self.run_id = f"sk{secrets.token_hex(4)}{worker_id}"
        self.require_backend = require_backend
        """What requires the backend (an unreachable one then fails the tests), or ``None``
        when it may be skipped as ``environment``."""
        self._namespaces = itertools.count(1)
        self._declared: Capabilities | None = None
        self._capabilities: Capabilities | None = None
        self._environment_error: str | None = None
        self._provisioned = False
        self.witness: FailureWitness | None = None
        """Where the running property test's machines report failing examples."""
        self._backdoor_use: set[str] = set()
        self.backend_info: BackendInfo | None = None
        """The backend behind the adapter, as its test support reports it (once opened)."""
        self.examples = 0
        """Examples the running generative test has run (``count_example``)."""
        self.known_failures: frozenset[str] = frozenset()
        """The contracts the run's baseline lists (``--sanctum-baseline``): a generative
        test leaves out the inputs their known failures are about."""

    # -- environment -----------------------------------------------------------------

    def _provision(self) -> None:
        if self._provisioned:
            return
        self._provisioned = True
        options = self.config.hook.pytest_sanctum_provision(
            config=self.config, worker_id=self.worker_id
        )
        if options is not None:
            self.options = dict(options)

    def cleanup(self) -> None:
        """Run the ``pytest_sanctum_cleanup`` hook if this worker was provisioned."""
        if self._provisioned:
            self.config.hook.pytest_sanctum_cleanup(
                config=self.config, worker_id=self.worker_id, options=self.options
            )

    def _check(self) -> None:
        if self._capabilities is not None or self._environment_error is not None:
            return
        try:
            self._provision()
            adapter = self._open_declared(VirtualClock())
        except BackendUnavailableError as error:
            self._environment_error = f"{self.choice.spec}: {error.message}"
            return
        except ConfigError as error:
            raise pytest.UsageError(
                f"{self.choice.source}={self.choice.spec!r}: the adapter refused its options "
                f"{self.options!r}: {error.message}"
            ) from None
        try:
            declared = adapter.capabilities
            self.backend_info = self._backend_info(adapter)
        finally:
            adapter.close()
        if self.reference_cache and declared.cache:
            raise pytest.UsageError(
                f"{REFERENCE_CACHE_OPTION}: adapter {self.choice.spec!r} declares a cache of its "
                "own; the reference cache stands in only for an adapter without one"
            )
        self._declared = declared
        self._capabilities = (
            dataclasses.replace(declared, cache=True, distributed_cache=False)
            if self.reference_cache
            else declared
        )

    def _backend_info(self, adapter: StorageAdapter) -> BackendInfo | None:
        """What the adapter's test support says about its backend; ``None`` when it says
        nothing or fails to ask (the report then says the backend was not reported)."""
        try:
            found: BackendInfo | None = self.config.hook.pytest_sanctum_backend_info(
                config=self.config, adapter=_built(adapter)
            )
        except SanctumError:
            return None
        return found

    @property
    def environment_error(self) -> str | None:
        """Why the backend cannot be used here (unreachable), or ``None``."""
        self._check()
        return self._environment_error

    @property
    def capabilities(self) -> Capabilities:
        """The capabilities the tests may rely on: the adapter's after the mask, plus a cache
        when it runs behind the reference cache."""
        self._check()
        if self._capabilities is None:
            raise BackendUnavailableError(str(self._environment_error))
        return self._capabilities

    @property
    def declared(self) -> Capabilities:
        """The capabilities the adapter itself declares, after the mask."""
        self._check()
        if self._declared is None:
            raise BackendUnavailableError(str(self._environment_error))
        return self._declared

    def require_environment(self) -> None:
        """Fail when the backend is unreachable and required, else skip as ``environment``."""
        problem = self.environment_error
        if problem is None:
            return
        if self.require_backend is not None:
            pytest.fail(
                f"environment: {problem} (the backend is required: {self.require_backend}; "
                "--sanctum-require-backend=no skips instead)",
                pytrace=False,
            )
        pytest.skip(f"environment: {problem}")

    def backend_lost(self) -> str | None:
        """Why the backend no longer opens (it went away during the run), or ``None``.

        Asked after a test failed: a failure the adapter's unreachable backend caused is an
        environment problem, not a broken contract. A backend that opens is closed again."""
        if self.environment_error is not None:
            return None
        try:
            self._open_declared(VirtualClock()).close()
        except BackendUnavailableError as error:
            return f"{self.choice.spec}: {error.message}"
        return None

    def require(self, names: tuple[str, ...]) -> None:
        """Skip as ``unsupported: <contract>`` when a needed capability is not declared."""
        self.require_environment()
        caps = self.capabilities
        for name in names:
            if not getattr(caps, name):
                pytest.skip(f"unsupported: {name}: {Capabilities.doc(name)}")

    # -- adapters and clients --------------------------------------------------------

    def _open_declared(self, clock: Clock) -> StorageAdapter:
        self._provision()
        adapter = self.factory(self.options, clock)
        return MaskedAdapter(adapter, self.mask) if self.mask else adapter

    def open_adapter(self, clock: Clock) -> StorageAdapter:
        """A new adapter instance (a new connection) on the run's backend, masked as asked,
        behind a cache of its own when it runs behind the reference cache."""
        adapter = self._open_declared(clock)
        return ReferenceCacheAdapter(adapter, clock) if self.reference_cache else adapter

    def new_clock(self) -> KitClock:
        """A fresh kit clock for one test or example: its waits pass in real time too when
        the adapter does not declare ``read_after_write`` (a replica may lag in real time)."""
        waits = self.environment_error is None and not self.capabilities.read_after_write
        return KitClock(real_waits=waits)

    def backdoor(self, adapter: StorageAdapter) -> Backdoor:
        """The adapter's backdoor probe, else a probe through its own stores."""
        found = self._backdoor_hook(adapter)
        self._backdoor_use.add("backdoor" if found is not None else "fallback")
        return found if found is not None else AdapterProbe(adapter)

    def take_backdoor_use(self) -> frozenset[str]:
        """How tests read the backend since the last call: ``backdoor`` (the adapter's own
        probe) and/or ``fallback`` (through its stores), for the report."""
        used = frozenset(self._backdoor_use)
        self._backdoor_use.clear()
        return used

    def has_backdoor(self, adapter: StorageAdapter) -> bool:
        """Whether a real backdoor (not the fallback probe) exists for ``adapter``."""
        return self._backdoor_hook(adapter) is not None

    def _backdoor_hook(self, adapter: StorageAdapter) -> Backdoor | None:
        found: Backdoor | None = self.config.hook.pytest_sanctum_backdoor(
            config=self.config, adapter=_built(adapter)
        )
        return found

    def fault_injector(self, adapter: StorageAdapter) -> FaultInjector | None:
        """The injector provoking real faults of ``adapter``'s backend, or ``None``."""
        found = self.config.hook.pytest_sanctum_fault_injector(
            config=self.config, adapter=_built(adapter)
        )
        return cast("FaultInjector | None", found)

    def random(self, *labels: str) -> random.Random:
        """A random generator derived from the run's seed and ``labels`` (say, a test's node
        id and a client's number): every random choice of a kit run draws from one, so one
        seed replays the run."""
        return random.Random(":".join((str(self.seed), *labels)))

    def count_example(self) -> None:
        """Count one example of the running generative test (reported per contract)."""
        self.examples += 1

    def take_examples(self) -> int:
        """The examples counted since the last call, and start counting again."""
        found, self.examples = self.examples, 0
        return found

    def new_namespace(self) -> str:
        """A namespace no other test, run or worker uses."""
        return f"{self.run_id}-{next(self._namespaces)}"

    def client_config(
        self,
        *,
        staleness_budget_ms: float = 0.0,
        ttl_ms: float = 5000.0,
        acl: Mapping[str, Mapping[str, list[str]]] | None = None,
        default_read_level: str = "strong",
        visibility_timeout_ms: float = 30_000.0,
        dedupe_window_ms: float = 120_000.0,
    ) -> StorageConfigV1:
        """A config routing every namespace to the adapter under test (named ``kit``)."""
        from pytest_sanctum.config import parse_config

        return parse_config(
            {
                "schema_version": 1,
                "adapters": {"kit": {"kind": self.choice.spec, "options": self.options}},
                "namespaces": {"*": {"adapter": "kit"}},
                "cache": {"ttl_ms": ttl_ms, "staleness_budget_ms": staleness_budget_ms},
                "consistency": {"default_read_level": default_read_level},
                "streams": {
                    "visibility_timeout_ms": visibility_timeout_ms,
                    "dedupe_window_ms": dedupe_window_ms,
                },
                "acl": dict(acl or {}),
            }
        )

    # -- hypothesis ------------------------------------------------------------------

    def settings(self) -> HypothesisSettings:
        """Hypothesis settings of the active profile.

        A failure reports fast: no explain phase (it reruns the failing example under a
        tracer), and one bug reported instead of shrinking every distinct one.
        """
        from hypothesis import HealthCheck, Phase, settings

        return settings(
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            print_blob=True,
            phases=[phase for phase in Phase if phase is not Phase.explain],
            report_multiple_bugs=False,
            **PROFILES[self.profile],
        )

    def run_machine(self, factory: Callable[[], Any]) -> None:
        """Run a hypothesis state machine with the kit's seed and profile.

        ``factory`` itself is handed to hypothesis, so each property test keeps its own
        entry in the example database. Shrinking is bounded, and a failure hypothesis
        cannot replay is reported by its own exception and operation log
        (``pytest_sanctum.kit.property_runs``).
        """
        from pytest_sanctum.kit.property_runs import run_machine

        run_machine(self, factory)

    def reproduce_command(self, contract_id: str) -> str:
        """The one-line command that reruns a contract's tests with this run's seed."""
        parts = ["pytest", f"--sanctum-adapter={self.choice.spec}"]
        if self._given_options:
            options = json.dumps(self._given_options, sort_keys=True)
            parts.append(f"--sanctum-adapter-options={shlex.quote(options)}")
        if self.mask:
            parts.append(f"--sanctum-mask={','.join(self.mask)}")
        if self.faults:
            parts.append(f"--sanctum-faults={','.join(self.faults)}")
        if self.reference_cache:
            parts.append(REFERENCE_CACHE_OPTION)
        parts += [
            f"--sanctum-profile={self.profile}",
            f"--sanctum-seed={self.seed}",
            f"--sanctum-contracts={contract_id}",
        ]
        return " ".join(parts)


def _built(adapter: StorageAdapter) -> StorageAdapter:
    """The adapter the factory built, inside the kit's wrappers (a mask, the reference cache):
    what the backdoor and fault-injector hooks are given."""
    while isinstance(adapter, MaskedAdapter | ReferenceCacheAdapter):
        adapter = adapter.inner
    return adapter
