#!/usr/bin/env bash
# Makes sure the integration tests can start their own PostgreSQL servers:
# server binaries (initdb, pg_ctl, pg_basebackup, postgres in one directory),
# pgbench, and — when running as root, which PostgreSQL refuses — a
# `postgres` OS user to run them as. Quiet and quick when all is present, so
# `make test` can run it every time. Installs with apt-get otherwise.
#
# The search mirrors integration/pgtest.BinDir; keep the two in step.
# --verbose also reports what was found when nothing needed doing.
set -euo pipefail

verbose=false
[ "${1:-}" = --verbose ] && verbose=true

. "$(dirname "${BASH_SOURCE[0]}")/pgbin.sh"

have_pgbench() {
	[ -x "$1/pgbench" ] || command -v pgbench >/dev/null 2>&1
}

need_user() {
	[ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1
}

bindir=$(find_bindir || true)
if [ -n "$bindir" ] && have_pgbench "$bindir" && ! need_user; then
	if $verbose; then
		echo "ensure-postgres: using $bindir ($("$bindir/postgres" --version))" >&2
	fi
	exit 0
fi

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		echo "ensure-postgres: need root to run: $*" >&2
		return 1
	fi
}

if [ -z "$bindir" ] || ! have_pgbench "$bindir"; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "ensure-postgres: no PostgreSQL server binaries (${tools[*]}) or pgbench found, and no apt-get to install them." >&2
		echo "Install PostgreSQL 12 or later, or set MIGRATE_TEST_PG_BINDIR (or MIGRATE_TEST_DSN to use an existing server)." >&2
		exit 1
	fi
	echo "ensure-postgres: installing PostgreSQL with apt-get" >&2
	# On Debian/Ubuntu the server package (pulled in by `postgresql`) ships
	# initdb, pg_ctl, postgres and pgbench; postgresql-client has pg_basebackup.
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		postgresql postgresql-contrib
	bindir=$(find_bindir) || {
		echo "ensure-postgres: installed PostgreSQL but still found no directory with ${tools[*]}" >&2
		exit 1
	}
	have_pgbench "$bindir" || {
		echo "ensure-postgres: pgbench is still missing after installing PostgreSQL" >&2
		exit 1
	}
fi

# The Debian package creates the user; other installs may not.
if need_user; then
	echo "ensure-postgres: creating the postgres OS user" >&2
	useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/sh postgres
fi

echo "ensure-postgres: using $bindir ($("$bindir/postgres" --version))" >&2
