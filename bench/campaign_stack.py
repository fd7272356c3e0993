"""The campaign bench's stack (PostgreSQL, Redis, 2 simulated carriers, send and receipt
workers, the API), left running for a campaign driven by hand the way an operator would:
`curl` the CSV upload, `switchboard campaigns watch ID`.

    .venv/bin/python bench/campaign_stack.py --info /tmp/stack.json [--carrier-mps 500]

Writes `{"api_url", "key"}` to `--info` once up; stops on SIGINT/SIGTERM or when the file
named by `--stop` appears, then prints each carrier's simulator counters (the audit to compare
with the campaign's report) as the last line, JSON. Then, with URL and KEY from the file
(docs/performance.md, "100,000 recipients the way an operator runs it"):

    curl -X POST $URL/v1/campaigns -H "Authorization: Bearer $KEY" \
         -H 'Content-Type: application/json' -d '{"template": "Hi {{first_name}}", …}'
    curl -X PUT $URL/v1/campaigns/$ID/audience -H "Authorization: Bearer $KEY" \
         -H 'Content-Type: text/csv' --data-binary @audience.csv
    curl -X POST $URL/v1/campaigns/$ID/start -H "Authorization: Bearer $KEY"
    switchboard campaigns watch $ID --key $KEY --api-url $URL
    curl $URL/v1/campaigns/$ID/report.csv -H "Authorization: Bearer $KEY"
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.campaign import campaign_configs, campaign_stack  # noqa: E402
from switchboard.embedded import start_postgres  # noqa: E402
from switchboard.settings import Settings  # noqa: E402


def main() -> None:
    """Start, publish the URL and key, wait, print the simulator's audit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--info", type=Path, required=True)
    parser.add_argument("--stop", type=Path, help="stop once this file exists")
    parser.add_argument("--carrier-mps", type=int, default=500)
    parser.add_argument("--send-workers", type=int, default=2)
    args = parser.parse_args()
    stopping = [False]

    def stop(*_: object) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    settings = Settings()
    cluster = start_postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="switchboard-campaign-stack-") as tmp:
            directory = Path(tmp)
            routes_file, simulator_file = campaign_configs(settings, directory, args.carrier_mps)
            stack = campaign_stack(
                directory,
                routes_file,
                simulator_file,
                cluster.create_database("operator"),
                args.send_workers,
            )
            with stack:
                args.info.write_text(json.dumps({"api_url": stack.api_url, "key": stack.api_key}))
                while not stopping[0] and not (args.stop and args.stop.exists()):
                    time.sleep(0.5)
                audit = stack.simulator_stats()
    finally:
        cluster.stop()
    print(json.dumps(audit))


if __name__ == "__main__":
    main()
