"""Running a property contract's state machine so that a failure reports fast, root cause first.

Hypothesis shrinks a failing example before reporting it, and on some adapters that took
minutes. The kit bounds it: no ``explain`` phase (it reruns the example under a tracer,
and the kit's failures already say where they are), one bug reported rather than every
distinct one, and at most ``SHRINK_SECONDS`` of shrinking, after which the smallest
example found so far is reported.

An adapter that answers the same operations differently from run to run (timing, a
random replica, state kept between examples) makes hypothesis give up replaying its
failure with ``Flaky`` (``FlakyFailure``, ``FlakyStrategyDefinition``), which hides the
adapter's own exception. The kit's machines report every failing example to a
``FailureWitness``; on ``Flaky`` the kit raises the smallest witnessed failure instead,
with its operation log, and names hypothesis's complaint in a note.

Hypothesis also mixes into its draws constants it reads from the project's own modules
loaded so far, so the same seed drew other examples in an xdist worker (which loads other
modules, in another order) than in a single process. The kit's machines draw without them
(``seed_only``): what they draw depends on the seed and the profile alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_sanctum.kit.session import KitSession

SHRINK_SECONDS = 20.0
"""How long hypothesis may shrink a failing example before the kit reports what it has."""


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A failing example: what it raised and its operation log (the narrated steps)."""

    error: Exception
    steps: tuple[str, ...]


class FailureWitness:
    """Keeps the smallest failing example of one property run (fewest steps; of equal
    length, the latest, which shrinking made)."""

    def __init__(self) -> None:
        self.smallest: Witnessed | None = None
        self.first_at: float | None = None

    def saw(self, error: Exception, steps: list[str]) -> None:
        """An example failed with ``error`` after ``steps``."""
        if self.first_at is None:
            self.first_at = time.monotonic()
        if self.smallest is None or len(steps) <= len(self.smallest.steps):
            self.smallest = Witnessed(error, tuple(steps))

    def shrank_for(self) -> float:
        """Seconds since the first failure (0 when none failed)."""
        return 0.0 if self.first_at is None else time.monotonic() - self.first_at


@contextmanager
def shrink_budget(seconds: float) -> Iterator[None]:
    """Let hypothesis shrink a failure for at most ``seconds``: its own limit is five minutes,
    held in an engine constant that hypothesis keeps patchable for this purpose."""
    from hypothesis.internal.conjecture import engine

    saved = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = int(seconds)
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved


@contextmanager
def seed_only() -> Iterator[None]:
    """Hypothesis draws without the constants of locally loaded modules (it still uses its
    own fixed constants), so a seed draws the same examples in any process. Hypothesis
    keeps the pool in ``providers``; a version without it is left alone."""
    from hypothesis.internal import constants_ast
    from hypothesis.internal.conjecture import providers

    pool = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if pool is None or cache is None:
        yield
        return
    empty = constants_ast.Constants()
    cache.cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = pool
        cache.cache.clear()


def run_machine(kit: KitSession, factory: Callable[[], Any]) -> None:
    """Run the state machine ``factory`` builds with the kit's profile, drawing from the kit's
    seed unless the profile is derandomised."""
    from hypothesis import seed
    from hypothesis.errors import Flaky
    from hypothesis.stateful import run_state_machine_as_test

    witness = kit.witness = FailureWitness()
    try:
        with shrink_budget(SHRINK_SECONDS), seed_only():
            settings = kit.settings()
            # A derandomised profile (ci) draws from each test's own fixed seed: an explicit
            # seed would override it.
            test = factory if settings.derandomize else seed(kit.seed)(factory)
            run_state_machine_as_test(test, settings=settings)  # type: ignore[arg-type]
    except Flaky as wrapper:
        found = witness.smallest
        if found is None:
            raise
        raise _root_cause(found, wrapper) from found.error.__cause__
    except Exception as failure:
        if witness.shrank_for() >= SHRINK_SECONDS:
            failure.add_note(
                f"sanctum: shrinking stopped after the kit's {SHRINK_SECONDS:g} s budget, so the "
                "operation log may hold steps the failure does not need"
            )
        raise
    finally:
        kit.witness = None


def _root_cause(found: Witnessed, wrapper: Exception) -> Exception:
    """The witnessed failure, with its operation log and hypothesis's complaint as notes."""
    error = found.error
    complaint = str(wrapper).strip().splitlines()[0] if str(wrapper).strip() else ""
    error.add_note(
        "sanctum: operation log of the smallest failing example:\n"
        + "\n".join(f"  {step}" for step in found.steps)
    )
    error.add_note(
        f"sanctum: hypothesis could not replay this failure ({type(wrapper).__name__}: "
        f"{complaint}). The adapter answered the same operations differently from one run "
        "to the next (timing, randomness, or state kept between examples), so the log above "
        "is of the run that failed, and a rerun may fail at another step."
    )
    return error
