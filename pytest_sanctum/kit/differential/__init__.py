"""The generative, differential tier (``DIFF-*``): the adapter under test and the in-memory
reference driven side by side with inputs from the whole documented domain, every
observable answer compared after every step.

``domain`` draws the inputs, ``compare`` compares two answers (etags by structure),
``world`` builds the two sides, ``readback`` reads everything a step could change back
from both, ``machine`` holds the state machines' rules. Adapter authors can run a machine
directly::

    kit.run_machine(lambda: StoreDifferential(kit))
"""

from pytest_sanctum.kit.differential.machine import (
    DifferentialMachine,
    FacadeDifferential,
    LifecycleDifferential,
    StoreDifferential,
)

__all__ = [
    "DifferentialMachine",
    "FacadeDifferential",
    "LifecycleDifferential",
    "StoreDifferential",
]
