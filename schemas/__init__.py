"""The contracts of the sensor analyzer: pydantic v2 models of everything that crosses a boundary.

``schemas.json/`` holds JSON Schema files generated from these models
(``python -m schemas.generate``); a test fails when they drift.
"""
