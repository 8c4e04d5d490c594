# Sourced by ./run-tests: starts a throwaway PostgreSQL from Debian's packages on loopback.
# Sets ONCEONLY_TEST_PG_URL and stops the server on exit.
start_test_postgres() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$bindir" ] || { echo "PostgreSQL binaries not found" >&2; return 1; }
  PG_DIR=$(mktemp -d /tmp/onceonly-pg.XXXXXX)
  PG_PORT=${ONCEONLY_TEST_PG_PORT:-$(( 20000 + RANDOM % 12000 ))}
  local run_as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$PG_DIR"
    run_as=(runuser -u postgres --)
  fi
  "${run_as[@]}" "$bindir/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1
  "${run_as[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" start >/dev/null
  export ONCEONLY_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
  export ONCEONLY_TEST_PG_CTL="${run_as[*]} $bindir/pg_ctl -D $PG_DIR/data"
  echo "==> PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

stop_test_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  $ONCEONLY_TEST_PG_CTL -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
