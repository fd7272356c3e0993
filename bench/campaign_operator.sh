#!/usr/bin/env bash
# The campaign "done when" run of issue 12, driven the way an operator would: the campaign
# bench's stack (bench/campaign_stack.py: PostgreSQL, Redis, 2 simulated carriers, workers,
# the API), then curl for the opt-outs, the campaign, the CSV upload, start / pause / resume,
# `switchboard campaigns watch` until done, the report; last, the report's counts beside the
# simulator's audit. Everything on 127.0.0.1.
#
#   bench/campaign_operator.sh                   # all zones open (window 00:00-23:59)
#   WINDOW=07:30-23:00 CANCEL=1 WATCH=300 bench/campaign_operator.sh
#
# WINDOW: the campaign's send_window (recipients' local time); MPS: each carrier's limit
# (default 500); WATCH: seconds `watch` may run; CANCEL=1: cancel after `watch` (a zone still
# shut stays scheduled until then). Files go to $OUT (default: a new temporary directory).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
D=${OUT:-$(mktemp -d -t switchboard-campaign-operator-XXXX)}
mkdir -p "$D"
$PY bench/campaign_stack.py --info "$D/stack.json" --stop "$D/stop" --carrier-mps "${MPS:-500}" \
  > "$D/stack.out" 2> "$D/stack.err" &
STACK=$!
for _ in $(seq 120); do [ -s "$D/stack.json" ] && break; sleep 1; done
URL=$($PY -c "import json; print(json.load(open('$D/stack.json'))['api_url'])")
KEY=$($PY -c "import json; print(json.load(open('$D/stack.json'))['key'])")
H="Authorization: Bearer $KEY"
echo "stack up at $URL; files in $D"
$PY -c "
import sys; sys.path.insert(0, 'bench'); from pathlib import Path
from campaign import write_audience
expected, opt_outs = write_audience(Path('$D/audience.csv'), 100000)
Path('$D/optouts.txt').write_text(''.join(n + '\n' for n in opt_outs))
print('audience: expected', expected, 'recipients,', len(opt_outs), 'to opt out first')"
echo "opt-outs (answers by status):"
while read -r number; do
  curl -s -o /dev/null -w "%{http_code}\n" -X POST "$URL/v1/opt-outs" -H "$H" \
    -H 'Content-Type: application/json' -d "{\"number\": \"$number\"}"
done < "$D/optouts.txt" | sort | uniq -c
CREATED=$(curl -s -X POST "$URL/v1/campaigns" -H "$H" -H 'Content-Type: application/json' \
  -d "{\"template\": \"Hi {{first_name}}, 20% off in {{city}} today\", \"send_window\": \"${WINDOW:-00:00-23:59}\"}")
ID=$(echo "$CREATED" | $PY -c "import json, sys; print(json.load(sys.stdin)['id'])")
echo "campaign $ID"
curl -s -o "$D/upload.json" -w "upload: %{time_total} s, HTTP %{http_code}\n" -X PUT \
  "$URL/v1/campaigns/$ID/audience" -H "$H" -H 'Content-Type: text/csv' --data-binary "@$D/audience.csv"
$PY -c "import json; d=json.load(open('$D/upload.json')); d.pop('skipped_rows', None); print(d)"
curl -s -o /dev/null -w "start: HTTP %{http_code}\n" -X POST "$URL/v1/campaigns/$ID/start" -H "$H"
curl -s -w " (HTTP %{http_code})\n" -X POST "$URL/v1/campaigns/$ID/start" -H "$H"
counts() { curl -s "$URL/v1/campaigns/$ID" -H "$H" | $PY -c "import json, sys; d=json.load(sys.stdin); print(d['state'], d['counts'])"; }
T0=$(date +%s)
sleep 30
curl -s -o /dev/null -w "pause: HTTP %{http_code}\n" -X POST "$URL/v1/campaigns/$ID/pause" -H "$H"
for wait in 1 7 7; do sleep $wait; echo -n "paused: "; counts; done
curl -s -o /dev/null -w "resume: HTTP %{http_code}\n" -X POST "$URL/v1/campaigns/$ID/resume" -H "$H"
timeout "${WATCH:-900}" $PY -m switchboard campaigns watch "$ID" --key "$KEY" --api-url "$URL" \
  > "$D/watch.txt" 2>&1
echo "watch exit $? at $(( $(date +%s) - T0 )) s after start: $(tr '\r' '\n' < "$D/watch.txt" | tail -1)"
echo -n "now: "; counts
if [ "${CANCEL:-0}" = 1 ]; then
  curl -s -o /dev/null -w "cancel: HTTP %{http_code}\n" -X POST "$URL/v1/campaigns/$ID/cancel" -H "$H"
  sleep 5
fi
curl -s "$URL/v1/campaigns/$ID/report.csv" -H "$H" > "$D/report.csv"
touch "$D/stop"
wait $STACK
tail -1 "$D/stack.out" > "$D/audit.json"
$PY - "$D" <<'PY'
import collections, csv, json, sys
from pathlib import Path
d = Path(sys.argv[1])
rows = list(csv.DictReader((d / "report.csv").open()))
audit = json.loads((d / "audit.json").read_text())
print("report:", len(rows), "rows by status", dict(collections.Counter(r["status"] for r in rows)))
carriers = collections.Counter(r["carrier"] for r in rows if r["carrier"])
for name, stats in sorted(audit.items()):
    same = "=" if carriers[name] == stats["submits_accepted"] else "!="
    print(f"  {name}: report {carriers[name]} {same} audit {stats['submits_accepted']},"
          f" throttled {stats['throttled']}")
PY
