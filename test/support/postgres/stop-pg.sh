#!/usr/bin/env bash
# stop-pg.sh DIR
# Stops the PostgreSQL that start-pg.sh started in DIR, and only that one: the PID is read from DIR/data's
# postmaster.pid and signalled only while that process's command line still names DIR/data (a recycled PID is
# never hit). SIGINT first (fast shutdown: aborts sessions, checkpoints), SIGKILL after STOP_TIMEOUT s (default 15).
# Leaves DIR in place (start-pg.sh DIR PORT starts the same cluster again). Exit 0 when nothing from DIR runs.
set -uo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
[ -d "$1" ] || { echo "[stop-pg] no such dir: $1" >&2; exit 0; }
DIR=$(cd "$1" && pwd)
DATA=$DIR/data
PIDFILE=$DATA/postmaster.pid
STOP_TIMEOUT=${STOP_TIMEOUT:-15}
log() { echo "[stop-pg] $*" >&2; }

[ -f "$PIDFILE" ] || exit 0
pid=$(head -n 1 "$PIDFILE" 2>/dev/null || true)
ours() {
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$DATA"
}
if ! ours; then
  log "stale PID file (pid ${pid:-?} is not postgres on $DATA)"
  exit 0
fi
log "stopping postgres (pid $pid)"
kill -INT "$pid" 2>/dev/null || true
i=0
while ours && [ $i -lt $((STOP_TIMEOUT * 10)) ]; do sleep 0.1; i=$((i + 1)); done
if ours; then
  log "postgres did not exit after ${STOP_TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.3
fi
if ours; then exit 1; fi
exit 0
