"""Alarm state: one owner for every alarm condition's life (ISA-18.2)."""
