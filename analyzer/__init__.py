"""The sensor analyzer: ingest, the 24 h window, the three tiers, the pipeline, the store and the services."""
