"""The operator and dashboard API: live values from Redis, history from the store, value
corrections with an audit trail, identity and roles.

``dashboard_api.main:app`` is the ASGI app (``sensor-analyzer dashboard`` serves it). Importing
this package builds nothing and never imports the analyzer's tiers.
"""
