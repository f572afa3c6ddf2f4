#!/usr/bin/env bash
# `make run`: all five services on this machine with SQLite state under .lapor/data and NATS on
# 127.0.0.1:4222 (started if none listens), seeded with Kota Bontang's OPDs, categories and rules.
set -euo pipefail
cd "$(dirname "$0")/.."
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open 4222; then
  if [ -x ../shared/services.sh ]; then
    ../shared/services.sh nats
  elif command -v nats-server >/dev/null; then
    mkdir -p .lapor/nats && nats-server -a 127.0.0.1 -p 4222 -js -sd .lapor/nats >/dev/null 2>&1 &
    sleep 1
  else
    echo "NATS is not running and nats-server is not installed (Debian: apt-get install nats-server)" >&2
    exit 1
  fi
fi
cargo build --workspace --bins
bin="${CARGO_TARGET_DIR:-target}/debug"
mkdir -p .lapor/data .lapor/logs
# The stream belongs to this state folder: wiping .lapor/ starts a fresh stream too, instead of
# replaying old events that the new SQLite files know nothing about.
[ -s .lapor/nats-prefix ] || echo "dev$(date +%s)" > .lapor/nats-prefix
prefix=$(cat .lapor/nats-prefix)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; echo stopped' EXIT INT TERM
port=50051
for s in intake routing opd-case notification sla-monitor; do
  var="LAPOR_$(echo "$s" | tr 'a-z-' 'A-Z_')__GRPC_ADDR"
  up=$(echo "$s" | tr 'a-z-' 'A-Z_')
  env "$var=127.0.0.1:$port" "LAPOR_${up}__NATS__PREFIX=$prefix" "$bin/lapor-$s" config/bontang.toml >".lapor/logs/$s.log" 2>&1 &
  pids+=($!)
  printf '  %-13s grpc 127.0.0.1:%s  log .lapor/logs/%s.log\n' "$s" "$port" "$s"
  port=$((port + 1))
done
sleep 2
cat <<TXT

lapor is running (Ctrl-C stops it). Try:
  $bin/laporctl submit --kind pengaduan --category infrastruktur.jalan \\
      --title "Jalan berlubang" --body "Jalan di depan pasar berlubang sejak dua minggu." --name "Budi"
  $bin/laporctl cases --opd dinas-pupr
  $bin/laporctl ask <case_id> --opd dinas-pupr "Di lajur mana tepatnya?"
  $bin/laporctl reply <tracking_id> <access_token> "Lajur kiri arah Loktuan"
  $bin/laporctl follow-up <case_id> --opd dinas-pupr "Tim menambal lubang Senin depan"
  $bin/laporctl timeline <tracking_id> <access_token>   # what the reporter sees
  $bin/laporctl confirm <tracking_id> <access_token>; $bin/laporctl rate <tracking_id> <access_token> 5
  $bin/laporctl feed             # the public feed
  $bin/laporctl calendar         # calendar versions; calendar-load FILE / calendar-import FILE.ics --reason ...
  $bin/laporctl ledger-verify    # the SLA ledger's hash chain
  $bin/laporctl deadlines <report_id>
  $bin/laporctl messages <report_id>
  $bin/laporctl inbox <tracking_id> <access_token>      # the reporter's notifications
  $bin/laporctl queue            # reports no rule placed (try --category ketertiban)
  $bin/laporctl dispatch <report_id> satpol-pp
  $bin/laporctl token --role operator   # a development bearer token for grpcurl
TXT
wait
