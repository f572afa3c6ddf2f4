#!/usr/bin/env bash
# make bench, whole-system part: the five services (release build, PostgreSQL state, a fresh
# database and NATS prefix) driven over gRPC by lapor-loadgen, with same-run baselines:
# pgbench on an intake-shaped transaction (../shared/bench/anchor.sh: its throughput), the same
# transaction offered at the open loop's rate (pgbench -R: its latency percentiles, the floor
# under the open loop's submit latency) and a bare JetStream publish-with-ack rate. Prints and
# writes $CARGO_TARGET_DIR/bench/system.json.
#
# Knobs (environment): BENCH_REPORTS (closed loop, default 3000), BENCH_CONCURRENCY (16),
# BENCH_RATE (open loop arrivals/s, 100), BENCH_RATE_SECS (30), BENCH_SUSTAIN_SECS (open loop at
# BENCH_SUSTAIN_RATE for that long; 0 = skip, the target asks for 600), BENCH_SUSTAIN_RATE (300),
# BENCH_BURST_RATE (1500) and BENCH_BURST_SECS (0 = skip; the target asks for 60),
# BENCH_AREA_DEG (side in degrees of the square around Bontang the reports' points are spread
# over; 0.15, the city, by default; larger spreads them thinner, see crates/loadgen),
# BENCH_WORKER_THREADS (each service's tokio worker threads; default: one per core),
# BENCH_SKIP_BUILD=1 (run the release binaries already built, e.g. to compare two builds of one
# service), BENCH_KEEP_DB=1 (leave the run's database behind for profiling its queries; its name
# is printed; drop it afterwards with dropdb; the services' logs are kept too, in the directory
# printed beside it), BENCH_DB_OPTIONS (server settings for the services'
# own connections, as libpq's `options`, e.g. "-c wal_compression=lz4": try a setting without
# changing the shared server's configuration), BENCH_AUTOVACUUM=on|off (the server's autovacuum
# for the run, by ALTER SYSTEM and a reload, put back as it was on exit: the project's machines
# run PostgreSQL with autovacuum off (a CI setting), production with it on; unset leaves the
# server as it is). system.json records the server settings the run had.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}
OUT=$T/bench
mkdir -p "$OUT"
REPORTS=${BENCH_REPORTS:-3000}
CONC=${BENCH_CONCURRENCY:-16}
RATE=${BENCH_RATE:-100}
RATE_SECS=${BENCH_RATE_SECS:-30}
SUSTAIN_SECS=${BENCH_SUSTAIN_SECS:-0}
SUSTAIN_RATE=${BENCH_SUSTAIN_RATE:-300}
BURST_RATE=${BENCH_BURST_RATE:-1500}
BURST_SECS=${BENCH_BURST_SECS:-0}
AREA_DEG=${BENCH_AREA_DEG:-0.15}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
SHARED=${LAPOR_SHARED:-../shared}
[ -f "$SHARED/bench/anchor.sh" ] || SHARED=/work/shared

[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || cargo build -q --release -p lapor-intake -p lapor-routing \
  -p lapor-opd-case -p lapor-notification -p lapor-sla-monitor -p lapor-loadgen
B=$T/release
DB=lapor_bench_$$
DB_OPTIONS=
[ -n "${BENCH_DB_OPTIONS:-}" ] && DB_OPTIONS="?options=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$BENCH_DB_OPTIONS")"
PREFIX=bench$$
WORK=$(mktemp -d)
createdb -h "$PGHOST" -U "$PGUSER" "$DB"
# BENCH_AUTOVACUUM: the server's setting for the run, and how to put it back (from a file: RESET
# lets it come from there again; set by an earlier ALTER SYSTEM: that value again).
AUTOVACUUM_RESTORE=
if [ -n "${BENCH_AUTOVACUUM:-}" ]; then
  case "$BENCH_AUTOVACUUM" in on|off) ;; *) echo "bench: BENCH_AUTOVACUUM must be on or off" >&2; exit 2 ;; esac
  read -r av_was av_file < <(psql -h "$PGHOST" -U "$PGUSER" -d "$DB" -X -Atc \
    "select setting, coalesce(sourcefile, '-') from pg_settings where name = 'autovacuum'" | tr '|' ' ')
  if [ "$av_was" != "$BENCH_AUTOVACUUM" ]; then
    case "$av_file" in
      *postgresql.auto.conf) AUTOVACUUM_RESTORE="ALTER SYSTEM SET autovacuum = $av_was" ;;
      *) AUTOVACUUM_RESTORE="ALTER SYSTEM RESET autovacuum" ;;
    esac
    psql -h "$PGHOST" -U "$PGUSER" -d "$DB" -X -q -c "ALTER SYSTEM SET autovacuum = $BENCH_AUTOVACUUM" \
      -c "SELECT pg_reload_conf()" >/dev/null
  fi
fi
declare -A PID PORT READY IDLE PEAK CPU PGCPU
cleanup() {
  if [ -n "$AUTOVACUUM_RESTORE" ]; then
    psql -h "$PGHOST" -U "$PGUSER" -d postgres -X -q -c "$AUTOVACUUM_RESTORE" -c "SELECT pg_reload_conf()" \
      >/dev/null || echo "bench: could not put autovacuum back ($AUTOVACUUM_RESTORE)" >&2
  fi
  for s in "${!PID[@]}"; do kill -TERM "${PID[$s]}" 2>/dev/null || true; done
  [ -n "${ALONE_PID:-}" ] && { kill -TERM "$ALONE_PID" 2>/dev/null || true; }
  [ -n "${HOST_PID:-}" ] && { kill -TERM "$HOST_PID" 2>/dev/null || true; }
  wait 2>/dev/null || true
  dropdb -h "$PGHOST" -U "$PGUSER" --if-exists --force "lapor_benchlat_$$" >/dev/null 2>&1 || true
  for stream in "${PREFIX^^}_EVENTS" "${PREFIX^^}A_EVENTS"; do
    "$B/lapor-loadgen" delete-stream --nats "$NATS_URL" --name "$stream" >/dev/null 2>&1 || true
  done
  if [ "${BENCH_KEEP_DB:-0}" = 1 ]; then
    echo "bench: database $DB and the services' logs in $WORK kept (BENCH_KEEP_DB=1)" >&2
  else
    dropdb -h "$PGHOST" -U "$PGUSER" --if-exists --force "$DB" >/dev/null 2>&1 || echo "bench: could not drop $DB" >&2
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

port=56051
for s in intake routing opd-case notification sla-monitor; do PORT[$s]=$port; port=$((port + 1)); done
# launch SERVICE PORT SCHEMA NATS_PREFIX: starts one service in the background (log in $WORK).
launch() {
  local s=$1 E
  E=LAPOR_$(echo "$s" | tr 'a-z-' 'A-Z_')
  local args=()
  [ "$s" != intake ] && args=(config/bontang.toml)
  env "${E}__GRPC_ADDR=127.0.0.1:$2" \
      "${E}__DATABASE__URL=postgres://$PGUSER@$PGHOST:5432/$DB$DB_OPTIONS" \
      "${E}__DATABASE__SCHEMA=$3" \
      "${E}__DATABASE__MAX_CONNECTIONS=${CONNECTIONS:-${BENCH_DB_CONNECTIONS:-8}}" \
      "${E}__NATS__URL=$NATS_URL" "${E}__NATS__PREFIX=$4" \
      "${E}__TELEMETRY__LOG_FORMAT=json" "${E}__TELEMETRY__LOG_FILTER=warn" \
      ${BENCH_WORKER_THREADS:+"TOKIO_WORKER_THREADS=$BENCH_WORKER_THREADS"} \
      "${E}__INTAKE_URL=http://127.0.0.1:${PORT[intake]}" \
      "LAPOR_OPD_CASE__ATTACHMENTS__STORE__PATH=$WORK/attachments" \
      "LAPOR_SLA_MONITOR__LEDGER__EXPORT_STORE__PATH=$WORK/ledger" \
      "$B/lapor-$s" "${args[@]}" >"$WORK/$s-$3.log" 2>&1 &
}
start() {
  local s=$1 t0
  t0=$(date +%s%N)
  launch "$s" "${PORT[$s]}" "$(echo "$s" | tr '-' '_')" "$PREFIX"
  PID[$s]=$!
  "$B/lapor-loadgen" ready --endpoint "http://127.0.0.1:${PORT[$s]}" >/dev/null
  READY[$s]=$(( ($(date +%s%N) - t0) / 1000000 ))
}
psql_db() { psql -h "$PGHOST" -U "$PGUSER" -d "$DB" -Atc "$1"; }
# pg_cpu PID: CPU seconds of the PostgreSQL backends serving process PID now (its pool's open
# connections, matched by client port; a connection the pool closed earlier is not counted).
pg_cpu() {
  local ports
  ports=$(ss -tnpH state established '( dport = :5432 )' | grep "pid=$1," | awk '{print $3}' \
    | sed 's/.*://' | paste -sd, -)
  [ -n "$ports" ] || { echo 0; return; }
  psql_db "select pid from pg_stat_activity where client_port in ($ports)" \
    | while read -r b; do cpu_seconds "$b"; echo; done | awk '{s += $1} END {printf "%.2f", s}'
}
cpu_seconds() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
rss() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
for s in intake routing opd-case notification sla-monitor; do start "$s"; done
sleep 3
# CPU of the database and broker processes from here on: PostgreSQL's (every process alive at the
# end, less what it had used now; pgbench's and the load generator's backends have ended by then
# and are not counted) and nats-server's.
infra_cpu() { for p in $(pgrep -x postgres) $(pgrep -x nats-server); do echo "$p $(cpu_seconds "$p")"; done; }
INFRA_START=$(infra_cpu)
for s in "${!PID[@]}"; do IDLE[$s]=$(rss "${PID[$s]}" VmRSS); done

echo "baselines..." >&2
ANCHOR=$(bash "$SHARED/bench/anchor.sh" "$CONC" 10)
# The latency baseline for the open loop's submit percentiles: the anchor's transaction offered
# at the open loop's rate for as long, from as many clients (pgbench -R: Poisson arrivals, each
# latency counted from its scheduled start as the load generator counts; one log line per
# transaction). What a bare commit of that shape costs on this disk at this hour.
LATDB=lapor_benchlat_$$
createdb -h "$PGHOST" -U "$PGUSER" "$LATDB"
psql -q -h "$PGHOST" -U "$PGUSER" -d "$LATDB" -f "$SHARED/bench/schema.sql" >/dev/null
mkdir -p "$WORK/pglat"
pgbench -h "$PGHOST" -U "$PGUSER" -n -M prepared -c "$CONC" -j 2 -R "$RATE" -T "$RATE_SECS" \
  -f "$SHARED/bench/outbox_5p1_sep.sql" -l --log-prefix="$WORK/pglat/tx" "$LATDB" >/dev/null 2>&1
dropdb -h "$PGHOST" -U "$PGUSER" --if-exists --force "$LATDB" >/dev/null 2>&1 || echo "bench: could not drop $LATDB" >&2
PGLAT=$(cat "$WORK"/pglat/tx.* | python3 -c '
import json, sys
# pgbench log: client, transaction, latency us (from the scheduled start under -R), script,
# epoch s, epoch us, schedule lag us
lat = sorted(int(l.split()[2]) / 1000 for l in sys.stdin if l.strip())
q = lambda p: round(lat[round((len(lat) - 1) * p)], 2)  # as the load generator takes them
print(json.dumps({"rate_per_sec": float(sys.argv[1]), "seconds": int(sys.argv[2]),
                  "latency": {"n": len(lat), "p50_ms": q(0.5), "p90_ms": q(0.9),
                              "p99_ms": q(0.99), "max_ms": q(1.0)}}))' "$RATE" "$RATE_SECS")
JS=$("$B/lapor-loadgen" js-baseline --nats "$NATS_URL" --concurrency "$CONC")

# Intake alone, like pgbench alone: a second intake on its own schema and NATS prefix with nothing
# downstream (its relay still publishes every event), with as many database connections as
# pgbench has clients, so the ratio compares like with like.
echo "intake alone: $REPORTS reports at concurrency $CONC..." >&2
CONNECTIONS=$((CONC > 8 ? CONC : 8)) launch intake 56050 intake_alone "${PREFIX}a"
ALONE_PID=$!
"$B/lapor-loadgen" ready --endpoint http://127.0.0.1:56050 >/dev/null
ALONE=$("$B/lapor-loadgen" submit --intake http://127.0.0.1:56050 --intake-only --label intake-alone \
  --reports "$REPORTS" --concurrency "$CONC")
ALONE_CPU=$(cpu_seconds "$ALONE_PID")
kill -TERM "$ALONE_PID"; wait "$ALONE_PID" || true
"$B/lapor-loadgen" delete-stream --nats "$NATS_URL" --name "${PREFIX^^}A_EVENTS" >/dev/null 2>&1 || true
ALONE=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["intake_cpu_seconds"]=float(sys.argv[2]); print(json.dumps(d))' "$ALONE" "$ALONE_CPU")

# submit LABEL REPORTS CONCURRENCY RATE [DRAIN_TIMEOUT_SECS]: one loadgen run, its JSON on stdout.
submit() {
  "$B/lapor-loadgen" submit --intake "http://127.0.0.1:${PORT[intake]}" \
    --db "postgres://$PGUSER@$PGHOST:5432/$DB" --label "$1" --reports "$2" --concurrency "$3" \
    --rate "$4" --drain-timeout-secs "${5:-300}" --area-deg "$AREA_DEG"
}
# The server's WAL and checkpoints while the five work (cluster-wide counters: nothing else
# should run on the server meanwhile): how much the run writes to the log, how much of it is
# full-page images (each first change of a page after a checkpoint logs the whole page), and how
# often the log's volume forced a checkpoint.
# (pg_stat_wal is PostgreSQL 14's; on an older server the counters are left out.)
wal_now() { psql_db "select json_build_object('records', w.wal_records, 'fpi', w.wal_fpi, 'bytes', w.wal_bytes, \
  'checkpoints_timed', b.checkpoints_timed, 'checkpoints_requested', b.checkpoints_req) from pg_stat_wal w, pg_stat_bgwriter b" \
  2>/dev/null || echo '{}'; }
WAL_START=$(wal_now)
# The host under the run: this is a shared virtual machine, and its host may pause it (e.g. to
# snapshot it) or drop its page cache, which no counter of ours sees. A sleeper wakes every 50 ms
# and writes down every wake-up that came more than 250 ms late (wall clock: a paused machine's
# clock jumps when it resumes); the kernel's messages written meanwhile that name such events are
# kept too. On a busy but healthy machine a 50 ms sleeper is woken within a few milliseconds.
cat >"$WORK/sleeper.py" <<'PY'
import sys, time
out = open(sys.argv[1], "a", buffering=1)
prev = time.time()
while True:
    time.sleep(0.05)
    now = time.time()
    if now - prev > 0.3:
        out.write(f"{prev:.3f} {now - prev - 0.05:.3f}\n")
    prev = now
PY
touch "$WORK/host-gaps"
python3 "$WORK/sleeper.py" "$WORK/host-gaps" &
HOST_PID=$!
DMESG_START=$( (dmesg 2>/dev/null || true) | wc -l)
echo "closed loop: $REPORTS reports at concurrency $CONC..." >&2
CLOSED=$(submit closed "$REPORTS" "$CONC" 0)
echo "open loop: $RATE/s for $RATE_SECS s..." >&2
OPEN=$(submit "rate$RATE" $((RATE * RATE_SECS)) 256 "$RATE")
SUSTAIN=null
if [ "$SUSTAIN_SECS" -gt 0 ]; then
  echo "sustained: $SUSTAIN_RATE/s for $SUSTAIN_SECS s..." >&2
  SUSTAIN=$(submit "sustain$SUSTAIN_RATE" $((SUSTAIN_RATE * SUSTAIN_SECS)) 512 "$SUSTAIN_RATE" 1800)
fi
BURST=null
if [ "$BURST_SECS" -gt 0 ]; then
  echo "burst: $BURST_RATE/s for $BURST_SECS s..." >&2
  BURST=$(submit "burst$BURST_RATE" $((BURST_RATE * BURST_SECS)) 1024 "$BURST_RATE" 1800)
fi
WAL_END=$(wal_now)
kill -TERM "$HOST_PID" 2>/dev/null || true
(dmesg 2>/dev/null || true) | tail -n +$((DMESG_START + 1)) \
  | { grep -Ei 'virtual machine fork|drop_caches|hung task|out of memory|soft lockup' || true; } \
  >"$WORK/host-kernel"
HOST_JSON=$(python3 -c '
import datetime, json, sys
gaps = []
for line in open(sys.argv[1]):
    at, late = line.split()
    gaps.append({"at": datetime.datetime.fromtimestamp(float(at), datetime.timezone.utc)
                 .strftime("%H:%M:%S.%f")[:-3], "late_s": float(late)})
longest = sorted(gaps, key=lambda g: -g["late_s"])
print(json.dumps({"sleeper_wakeups_over_250ms_late": len(gaps),
                  "seconds_lost": round(sum(g["late_s"] for g in gaps), 2),
                  "longest": longest[:5],
                  "kernel_events": [l.strip() for l in open(sys.argv[2])][:20]}))' \
  "$WORK/host-gaps" "$WORK/host-kernel")
for s in "${!PID[@]}"; do
  PEAK[$s]=$(rss "${PID[$s]}" VmHWM)
  # user + system CPU seconds over the whole run (fields 14 and 15 of /proc/<pid>/stat)
  CPU[$s]=$(cpu_seconds "${PID[$s]}")
  PGCPU[$s]=$(pg_cpu "${PID[$s]}")
done
INFRA_END=$(infra_cpu)
# Rows each service wrote (PostgreSQL's table statistics: [inserted, updated, deleted, sequential
# scans, index scans] per table, per schema) and the database's commits.
sleep 1 # backends report their table statistics at most once a second
WRITES_JSON=$(psql_db "select coalesce(json_object_agg(schemaname, tables), '{}') from (select schemaname, \
  json_object_agg(relname, json_build_array(n_tup_ins, n_tup_upd, n_tup_del, seq_scan, coalesce(idx_scan, 0))) tables from pg_stat_user_tables \
  where n_tup_ins + n_tup_upd + n_tup_del > 0 group by schemaname) t")
COMMITS=$(psql_db "select xact_commit from pg_stat_database where datname = current_database()")
# The server settings the run had (the services' own connections also run with jit off:
# database.jit).
SETTINGS_JSON=$(psql_db "select json_object_agg(name, current_setting(name)) from unnest(array['autovacuum', \
  'jit', 'jit_above_cost', 'shared_buffers', 'synchronous_commit', 'max_wal_size', 'fsync']) name")
INFRA_JSON=$(python3 - "$INFRA_START" "$INFRA_END" "$(pgrep -x nats-server | head -1)" "$WRITES_JSON" "$COMMITS" \
  "$WAL_START" "$WAL_END" "${BENCH_DB_OPTIONS:-}" "$HOST_JSON" "$SETTINGS_JSON" <<'PY'
import json, sys
def snapshot(text):  # "pid seconds" lines; a process that ended while being read has no seconds
    return dict(l.split() for l in text.splitlines() if len(l.split()) == 2)
start, end = snapshot(sys.argv[1]), snapshot(sys.argv[2])
nats = sys.argv[3]
pg = sum(float(v) - float(start.get(p, 0)) for p, v in end.items() if p != nats)
ns = float(end.get(nats, 0)) - float(start.get(nats, 0))
print(json.dumps({"postgres_cpu_seconds": round(pg, 2), "nats_cpu_seconds": round(ns, 2),
                  "postgres_rows_written_by_schema": json.loads(sys.argv[4]),
                  "postgres_commits": int(sys.argv[5]),
                  # from the closed loop's start to the last phase's end
                  "postgres_wal": {k: int(v) - int(json.loads(sys.argv[6])[k])
                                   for k, v in json.loads(sys.argv[7]).items()},
                  "services_connection_options": sys.argv[8] or None,
                  "postgres_settings": json.loads(sys.argv[10]),
                  # the host's pauses and cache drops during the phases (see the sleeper above)
                  "host": json.loads(sys.argv[9])}))
PY
)

services_json=$(for s in intake routing opd-case notification sla-monitor; do
  printf '{"service":"%s","ready_ms":%s,"idle_rss_kb":%s,"peak_rss_kb":%s,"cpu_seconds":%s,"postgres_backend_cpu_seconds":%s}\n' \
    "$s" "${READY[$s]}" "${IDLE[$s]}" "${PEAK[$s]}" "${CPU[$s]}" "${PGCPU[$s]}"; done | paste -sd, -)
python3 - "$ANCHOR" "$JS" "$CLOSED" "$OPEN" "$SUSTAIN" "$BURST" "[$services_json]" "$CONC" "$ALONE" "$INFRA_JSON" "$PGLAT" >"$OUT/system.json" <<'PY'
import json, platform, subprocess, sys, os
anchor_line, js, closed, open_, sustain, burst, services, conc, alone, infra, pglat = sys.argv[1:]
alone, infra, pglat = json.loads(alone), json.loads(infra), json.loads(pglat)
anchor = dict(kv.split("=", 1) for kv in anchor_line.split() if "=" in kv)
tps = float(anchor["anchor_tps"])
js, closed, open_ = json.loads(js), json.loads(closed), json.loads(open_)
sustain, burst, services = json.loads(sustain), json.loads(burst), json.loads(services)
# the PostgreSQL log written per report through the five (every phase after the baselines)
wal, through = infra["postgres_wal"], sum(p["accepted"] for p in (closed, open_, sustain, burst) if p)
wal_per_report = {"bytes": round(wal["bytes"] / through), "records": round(wal["records"] / through, 1),
                  "full_page_images": round(wal["fpi"] / through, 2)} if wal and through else None
def ver(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
    except Exception:
        return "unknown"
out = {
    "machine": {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "postgres": ver(["psql", "--version"]),
        "rustc": ver(["rustc", "--version"]),
    },
    "baselines": {"pgbench_intake_shaped_tps": tps, "pgbench": anchor_line, "jetstream": js,
                  "pgbench_at_open_loop_rate": pglat},
    "intake_alone": alone,
    "closed_loop": closed,
    "open_loop": open_,
    "sustained": sustain,
    "burst": burst,
    "services": services,
    "infrastructure": infra,
    "ratios": {
        "intake_alone_accepted_per_sec_over_pgbench_tps": round(alone["accepted_per_sec"] / tps, 3),
        "intake_accepted_per_sec_over_pgbench_tps": round(closed["accepted_per_sec"] / tps, 3),
        # null when some report never finished (closed_loop.pipeline_complete false)
        "end_to_end_per_sec_over_pgbench_tps": round(closed["end_to_end_per_sec"] / tps, 3)
        if closed.get("end_to_end_per_sec") else None,
        "intake_accepted_per_sec_over_jetstream_acks_per_sec": round(
            closed["accepted_per_sec"] / js["msgs_per_sec"], 3),
        # The open loop's submit p99 against a bare commit's p99 at the same rate: how much of
        # the tail is the machine's (its disk's fsync, the scheduler) rather than ours.
        "open_loop_submit_p99_over_pgbench_p99_at_same_rate": round(
            open_["submit_latency"]["p99_ms"] / pglat["latency"]["p99_ms"], 2)
        if pglat["latency"].get("p99_ms") else None,
    },
    "postgres_wal_per_report": wal_per_report,
    "idle_rss_mb_all_services": round(sum(s["idle_rss_kb"] for s in services) / 1024, 1),
    "max_ready_ms": max(s["ready_ms"] for s in services),
    "concurrency": int(conc),
}
print(json.dumps(out, indent=2))
PY
cat "$OUT/system.json"
