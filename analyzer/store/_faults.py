"""Named points inside multi-step writes where a test can simulate a crash.

Both stores call ``fault_hook(point)`` between the steps of a multi-step write; a hook that raises
stops the operation there, as a process killed at that point would. Production never sets a hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

FaultHook = Callable[[str], None]

#: The resolved record is written; the open record is not yet deleted.
RESOLVE_WRITTEN: Final = "resolve:written"


class SimulatedCrash(RuntimeError):
    """Raised by test fault hooks; never by the stores themselves."""


# -- value corrections (dashboard API, issue 9) ------------------------------------------------
#: Cosmos only: the analysis is marked with the pending correction (the commit point).
CORRECTION_MARKED: Final = "correction:marked"
#: The audit record is written; the analysis does not show the correction yet.
CORRECTION_AUDITED: Final = "correction:audited"
