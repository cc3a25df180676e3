#!/bin/bash
# Fixed-rate runs of two installs of the project, one after the other, with one load tool:
# completion and accept latency, and each process's CPU per declaration from /proc.
#   bench/fixed_rates.sh OLD_VENV_BIN NEW_VENV_BIN RATE [RATE ...]
# e.g. bench/fixed_rates.sh /work/wt/old/.venv/bin .venv/bin 40 80 120
# (uses port 8000 and the default broker port: nothing else may be running there)
set -u
OLD=$(cd "$1" && pwd) NEW=$(cd "$2" && pwd); shift 2
LOAD="$NEW/singlewindow"
DURATION=15

cpu() {  # utime+stime (ticks) of this system's broker and five services, one per line
  # (matched by the install's own interpreter and the default broker port, so that other
  # systems running on the machine, a test suite's say, are not counted)
  pgrep -f "tansu.*127.0.0.1:9092" | head -1 | xargs -I{} awk '{print $14+$15}' /proc/{}/stat
  for s in gateway customs inspection forex tax; do
    pgrep -f "$bin/python -m singlewindow.serve $s" | head -1 \
      | xargs -I{} awk '{print $14+$15}' /proc/{}/stat
  done
}

for pair in "old:$OLD" "new:$NEW"; do
  name=${pair%%:*} bin=${pair#*:}
  dir=$(mktemp -d)
  (cd "$dir" && "$bin/singlewindow" up > "$dir/up.log" 2>&1 &)
  for _ in $(seq 1 60); do curl -sf localhost:8000/healthz > /dev/null && break; sleep 0.5; done
  "$LOAD" load --rate 10 --duration 3 --mix export/0110=1 --out "$dir/warm" > /dev/null 2>&1
  for rate in "$@"; do
    echo "== $name, $rate/s for ${DURATION} s"
    cpu > "$dir/cpu0"
    "$LOAD" load --rate "$rate" --duration "$DURATION" --mix export/0110=1 --out "$dir/load" \
      | grep -E "accept|completion  |sent "
    cpu > "$dir/cpu1"
    paste "$dir/cpu0" "$dir/cpu1" | awk -v n=$((DURATION * rate)) \
      '{d=($2-$1)*10/n; t+=d; printf "%.2f ", d} END {printf "= %.2f ms CPU a declaration (broker gateway customs inspection forex tax)\n", t}'
  done
  pkill -INT -f "$bin/singlewindow up"
  for _ in $(seq 1 60); do pgrep -f "$bin/python -m singlewindow.serve|tansu.*127.0.0.1:9092" > /dev/null || break; sleep 0.5; done
done
