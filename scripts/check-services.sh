#!/usr/bin/env bash
# Used where ../shared/services.sh is absent: checks that PostgreSQL (5432) and NATS (4222) listen.
# Elsewhere start them yourself, e.g. `nats-server -js` and a local PostgreSQL with trust auth.
set -u
ok=0
for p in 5432 4222; do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "nothing listens on 127.0.0.1:$p (PostgreSQL is 5432, NATS with JetStream is 4222)" >&2
    ok=1
  fi
done
exit $ok
