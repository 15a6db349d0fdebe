"""The analyzer's HTTP service (FastAPI): analyze, ingest, sweep, health."""
