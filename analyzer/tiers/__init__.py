"""The analysis tiers: heuristic (alarm limits), statistical (24 h window, IsolationForest), LLM context."""
