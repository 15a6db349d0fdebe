"""Named points inside multi-step writes where a test can simulate a crash.

Both stores call ``fault_hook(point)`` between the steps of a move; a hook that raises stops the
operation there, as a process killed at that point would. Production never sets a hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

FaultHook = Callable[[str], None]

#: Cosmos only: the open episode is marked as being resolved (the commit point of a resolve).
RESOLVE_MARKED: Final = "resolve:marked"
#: The resolved record is written; the open episode is not yet deleted.
RESOLVE_WRITTEN: Final = "resolve:written"
#: Cosmos only: the open episode is marked as moving to another severity partition.
MOVE_MARKED: Final = "move:marked"
#: The episode exists under its new severity; the old copy is not yet deleted.
MOVE_CREATED: Final = "move:created"


class SimulatedCrash(RuntimeError):
    """Raised by test fault hooks; never by the stores themselves."""


# -- value corrections (dashboard API, issue 9) ------------------------------------------------
#: Cosmos only: the analysis is marked with the pending correction (the commit point).
CORRECTION_MARKED: Final = "correction:marked"
#: The audit record is written; the analysis does not show the correction yet.
CORRECTION_AUDITED: Final = "correction:audited"
