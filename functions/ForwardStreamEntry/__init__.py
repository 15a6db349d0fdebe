"""Redis stream trigger: forward each new entry to the analyzer's analyze route.

The trigger acknowledges the entry whatever happens here (at most once); a failed forward is
dead-lettered by the forwarder and found again by SweepWindow.
"""

from __future__ import annotations

from ..shared.forwarder import ForwarderConfig, forward_entry


def main(entry: str) -> None:
    forward_entry(entry, ForwarderConfig.from_env())
