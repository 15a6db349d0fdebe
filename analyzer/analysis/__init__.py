"""The analysis: from a stream entry to a stored result (tiers observe, alarms decide, the store writes)."""
