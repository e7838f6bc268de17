#!/usr/bin/env bash
# start-pg.sh DIR PORT
# A throw-away PostgreSQL for Tilelog's tests (test/support/pg-server.ts, test/e2e/postgres.test.ts): the
# coordination backend of issue #11 (server/coordination/postgres.ts) runs against it. Not for production.
#
# Uses Debian's server packages (bookworm: apt-get install -y --no-install-recommends postgresql-15); the newest
# /usr/lib/postgresql/<version>/bin that has initdb, pg_ctl and postgres is picked.
#   * data in DIR/data, UNIX socket in DIR, TCP on 127.0.0.1:PORT only; log in DIR/postgres.log;
#   * fsync=on, synchronous_commit=on (the tests rely on durability); initdb itself runs with --no-sync (a
#     freshly created throw-away cluster, nothing to lose);
#   * authentication: one password role `tilelog` (SCRAM-SHA-256 over TCP, random password unless PGTEST_PASSWORD
#     is set) owning a database `tilelog`; trust on the UNIX socket in DIR only (mode 0700, used by this script);
#   * initdb and postgres refuse to run as root: when run as root, they run as the `postgres` system user (created
#     by Debian's package; created here as a system user if missing) through runuser, and DIR is chowned to it.
# If DIR/data already holds a cluster (a restart after stop-pg.sh), it is started again as it is.
#
# Output: on success one line `PGURL=postgres://tilelog:PASSWORD@127.0.0.1:PORT/tilelog` on stdout (also kept in
# DIR/pgurl), exit 0. Progress goes to stderr. On failure whatever was started is stopped, exit status non-zero.
# Stop with: stop-pg.sh DIR (by the PID file only).
#
# Optional environment: START_TIMEOUT seconds allowed for the server start (default 30).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DIR PORT" >&2
  exit 2
fi
DIR=$1
PORT=$2
START_TIMEOUT=${START_TIMEOUT:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
log() { echo "[start-pg] $*" >&2; }

BIN=
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then BIN=$d; break; fi
done
[ -n "$BIN" ] || { log "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)"; exit 3; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
DATA=$DIR/data

# As root, run the server tools as the postgres system user.
AS=()
if [ "$(id -u)" = 0 ]; then
  if ! id -u postgres >/dev/null 2>&1; then
    log "creating the postgres system user"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
  fi
  chown postgres: "$DIR"
  AS=(runuser -u postgres --)
fi
chmod 700 "$DIR"
# The tools must not pick up the caller's PG* settings.
unset PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGOPTIONS PGSERVICE PGSSLMODE

started=0
fail() {
  log "FAILED: $*"
  [ -f "$DIR/postgres.log" ] && tail -n 20 "$DIR/postgres.log" >&2
  if [ $started = 1 ]; then "$HERE/stop-pg.sh" "$DIR" >&2 || true; fi
  exit 1
}

if [ ! -f "$DATA/PG_VERSION" ]; then
  PASSWORD=${PGTEST_PASSWORD:-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  umask 077
  printf '%s\n' "$PASSWORD" > "$DIR/pwfile"
  [ ${#AS[@]} = 0 ] || chown postgres: "$DIR/pwfile"
  log "initdb ($BIN)"
  "${AS[@]}" "$BIN/initdb" -D "$DATA" -U tilelog --pwfile="$DIR/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 || { rm -f "$DIR/pwfile"; cat "$DIR/initdb.log" >&2; fail "initdb"; }
  rm -f "$DIR/pwfile"
  printf 'PGURL=postgres://tilelog:%s@127.0.0.1:%s/tilelog\n' "$PASSWORD" "$PORT" > "$DIR/pgurl"
  fresh=1
else
  fresh=0
  [ -f "$DIR/pgurl" ] || fail "$DATA holds a cluster but $DIR/pgurl is missing"
fi

log "starting postgres on 127.0.0.1:$PORT"
started=1
OPTS="-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR -c fsync=on -c synchronous_commit=on"
OPTS="$OPTS -c full_page_writes=on -c shared_buffers=32MB -c max_connections=100 -c log_min_messages=warning"
"${AS[@]}" "$BIN/pg_ctl" start -D "$DATA" -w -t "$START_TIMEOUT" -s -l "$DIR/postgres.log" -o "$OPTS" >&2 || fail "pg_ctl start"

if [ $fresh = 1 ]; then
  timeout 20 "${AS[@]}" "$BIN/createdb" -h "$DIR" -p "$PORT" -U tilelog -O tilelog tilelog >&2 || fail "createdb"
fi
cat "$DIR/pgurl"
