"""Timer trigger: ask the analyzer to analyse entries of the 24 h window that have no result."""

from __future__ import annotations

import logging

import azure.functions as func

from ..shared.forwarder import ForwarderConfig, request_sweep


def main(timer: func.TimerRequest) -> None:
    if timer.past_due:
        logging.warning("sweep timer is past due; sweeping now")
    request_sweep(ForwarderConfig.from_env())
