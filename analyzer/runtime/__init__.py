"""Runtime plumbing: landing, the stream consumers, the sweep, dead letters, service wiring."""
