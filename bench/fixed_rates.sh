#!/bin/bash
# Fixed-rate runs of two installs of the project, one after the other, with one load tool:
# completion and accept latency, and each process's CPU per declaration from /proc.
#   bench/fixed_rates.sh OLD_VENV_BIN NEW_VENV_BIN RATE [RATE ...]
# e.g. bench/fixed_rates.sh /work/wt/old/.venv/bin .venv/bin 40 80 120
# Ports: SW_PORT_BASE (gateway; 8000) and SW_BROKER_PORT (9092), nothing else may run there;
# DURATION seconds a rate (15); ROUNDS of old then new (1).
set -u
OLD=$(cd "$1" && pwd) NEW=$(cd "$2" && pwd); shift 2
LOAD="$NEW/singlewindow"
DURATION=${DURATION:-15}
export SW_PORT_BASE=${SW_PORT_BASE:-8000} SW_BROKER_PORT=${SW_BROKER_PORT:-9092}
GATEWAY="http://127.0.0.1:$SW_PORT_BASE" KAFKA="127.0.0.1:$SW_BROKER_PORT"

cpu() {  # utime+stime (ticks) of this system's broker and five services, one per line
  # (matched by the install's own interpreter and the default broker port, so that other
  # systems running on the machine, a test suite's say, are not counted)
  pgrep -f "tansu.*$KAFKA" | head -1 | xargs -I{} awk '{print $14+$15}' /proc/{}/stat
  for s in gateway customs inspection forex tax; do
    pgrep -f "$bin/python -m singlewindow.serve $s" | head -1 \
      | xargs -I{} awk '{print $14+$15}' /proc/{}/stat
  done
}

for pair in $(for _ in $(seq 1 "${ROUNDS:-1}"); do echo "old:$OLD new:$NEW"; done); do
  name=${pair%%:*} bin=${pair#*:}
  dir=$(mktemp -d)
  cd "$dir" && { "$bin/singlewindow" up > "$dir/up.log" 2>&1 & up=$!; } && cd - > /dev/null
  for _ in $(seq 1 60); do curl -sf "$GATEWAY/healthz" > /dev/null && break; sleep 0.5; done
  "$LOAD" load --rate 10 --duration 3 --mix export/0110=1 --out "$dir/warm" \
    --gateway "$GATEWAY" --kafka "$KAFKA" > /dev/null 2>&1
  for rate in "$@"; do
    echo "== $name, $rate/s for ${DURATION} s"
    cpu > "$dir/cpu0"
    "$LOAD" load --rate "$rate" --duration "$DURATION" --mix export/0110=1 --out "$dir/load" \
      --gateway "$GATEWAY" --kafka "$KAFKA" | grep -E "accept|completion  |sent "
    cpu > "$dir/cpu1"
    paste "$dir/cpu0" "$dir/cpu1" | awk -v n=$((DURATION * rate)) \
      '{d=($2-$1)*10/n; t+=d; printf "%.2f ", d} END {printf "= %.2f ms CPU a declaration (broker gateway customs inspection forex tax)\n", t}'
  done
  kill -INT "$up"
  for _ in $(seq 1 60); do pgrep -f "$bin/python -m singlewindow.serve|tansu.*$KAFKA" > /dev/null || break; sleep 0.5; done
done
