"""`python -m simulators --scenario FILE [--control-port N] [--quiet]` for subprocess use."""

from __future__ import annotations

import argparse
import asyncio
import sys

from messaging import ConfigError
from metrics.heap import settle_heap
from simulators.runner import serve
from simulators.scenario import load_scenario


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run until SIGINT/SIGTERM; 1 for an invalid scenario."""
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("--scenario", default="config/simulator.toml")
    parser.add_argument("--control-port", type=int, default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--check", action="store_true", help="validate the scenario and exit")
    parser.add_argument("--quiet", action="store_true", help="no per-second rates lines")
    args = parser.parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        print(f"{args.scenario}: ok ({len(scenario.carriers)} carriers)")
        return 0
    if args.control_port is not None:
        scenario = scenario.model_copy(update={"control_port": args.control_port})

    def echo(line: str) -> None:
        print(line, flush=True)

    settle_heap()  # start-up's objects out of every collection (metrics.heap)
    asyncio.run(serve(scenario, echo, host=args.host, rates=not args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
