# Sourced by the benchmarks that need PostgreSQL: a throw-away cluster on a
# Unix socket in a temporary directory (run as the postgres user when we are
# root), stopped and removed when the script exits.
#
# Usage: . bench/pg_cluster.sh "-c setting=value …"
# Sets: PG (server programs), TMP (its folder and socket), asdb (run as the
# cluster's owner), pg_stop (stop it early).
PG=/usr/lib/postgresql/15/bin
[ -x "$PG/postgres" ] || { echo "install postgresql-15-postgis-3 first" >&2; exit 1; }
TMP=$(mktemp -d /tmp/nostrike-pg.XXXXXX)
chmod 777 "$TMP"
asdb() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_stop() { asdb "$PG/pg_ctl" -D "$TMP/data" -m fast stop > /dev/null 2>&1 || true; }
asdb "$PG/initdb" -D "$TMP/data" -A trust -U postgres > /dev/null
asdb "$PG/pg_ctl" -D "$TMP/data" -o "-k $TMP -c listen_addresses='' $1" -l "$TMP/log" -w start > /dev/null
trap 'pg_stop; rm -rf "$TMP"' EXIT
