"""The HTTP surface: one router per resource (``routes/``), gathered in :mod:`.router`."""
