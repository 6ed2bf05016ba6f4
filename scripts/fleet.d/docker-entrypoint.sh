#!/bin/sh
# Entrypoint of pgfleet's test postgres image, with the official postgres image's interface:
#   POSTGRES_PASSWORD          required unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER              superuser (default postgres)
#   POSTGRES_DB                database created on first start (default = POSTGRES_USER)
#   POSTGRES_INITDB_ARGS       extra initdb arguments
#   POSTGRES_HOST_AUTH_METHOD  auth for TCP connections (default scram-sha-256)
#   PGDATA                     data folder (default /var/lib/postgresql/data)
# On first start: initdb, a socket-only temporary server creates the database and runs
# /docker-entrypoint-initdb.d/*.sql and *.sh, then `exec postgres` as PID 1. The local
# socket trusts everyone (so `docker exec ctr psql -U postgres` needs no password); TCP
# connections need the password (scram-sha-256) from any address.
# The shell is busybox's: it runs its own applets before any file, so util-linux's setpriv
# is called by absolute path (busybox's setpriv has no --reuid).
set -eu

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

# `docker run image -c foo=bar` means `postgres -c foo=bar`, as in the official image.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    chmod 3777 /run/postgresql
    exec /usr/bin/setpriv --reuid=999 --regid=999 --clear-groups "$0" "$@"
fi

log() { echo "docker-entrypoint: $*"; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    POSTGRES_USER=${POSTGRES_USER:-postgres}
    POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        cat >&2 <<'EOF'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
       (Or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password.)
EOF
        exit 1
    fi

    log "initialising $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
    pwfile=
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    fi
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as upstream
    initdb --username="$POSTGRES_USER" ${pwfile:+--pwfile="$pwfile"} \
        --auth-local=trust --auth-host="$auth" --encoding=UTF8 --locale=C.UTF-8 \
        ${POSTGRES_INITDB_ARGS:-} >/dev/null
    [ -z "$pwfile" ] || rm -f "$pwfile"

    # initdb's --auth-host covers only 127.0.0.1 and ::1.
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # A temporary server on the socket only: nothing can connect over TCP before it is ready.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w -t 60 start >/dev/null
    psql_init() {
        psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password "$@"
    }
    if [ "$POSTGRES_DB" != postgres ]; then
        psql_init --dbname postgres --set db="$POSTGRES_DB" <<'EOF'
CREATE DATABASE :"db";
EOF
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
        *.sh)
            log "running $f"
            # shellcheck disable=SC1090
            . "$f"
            ;;
        *.sql)
            log "running $f"
            psql_init --dbname "$POSTGRES_DB" -f "$f"
            ;;
        *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    unset POSTGRES_PASSWORD
    log "initialisation complete; starting postgres"
fi

exec "$@"
