"""``python -m bench.reliability [--quick] [--only WORD ...]``: run the fault suite, print the table.

Exit status 1 when any scenario lost or duplicated an entry or gave different verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bench.reliability.suite import run_suite, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the shortened run (the test's): small data, short faults")
    parser.add_argument("--only", nargs="*", help="run only scenarios whose name holds one of these words")
    parser.add_argument("--workdir", type=Path, help="keep Redis data, SQLite files and worker logs here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"fault suite ({'quick' if args.quick else 'full'}): real worker processes, own redis-server (AOF)")
    outcomes = asyncio.run(run_suite(args.quick, args.workdir, only=set(args.only or []) or None))
    print()
    print(table(outcomes))
    bad = [o.scenario for o in outcomes if not o.ok]
    print(f"\n{'all scenarios: 0 lost, 0 duplicated, identical verdicts' if not bad else 'NOT OK: ' + ', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
