# Sourced by ensure-postgres.sh and pgcluster.sh: one search for the
# PostgreSQL server binaries, the same as integration/pgtest.BinDir.
# shellcheck shell=bash

tools=(initdb pg_ctl pg_basebackup postgres)

has_tools() {
	local d=$1 t
	[ -n "$d" ] || return 1
	for t in "${tools[@]}"; do
		[ -f "$d/$t" ] && [ -x "$d/$t" ] || return 1
	done
}

find_bindir() {
	local d real
	if [ -n "${MIGRATE_TEST_PG_BINDIR:-}" ]; then
		has_tools "$MIGRATE_TEST_PG_BINDIR" && { echo "$MIGRATE_TEST_PG_BINDIR"; return 0; }
		echo "MIGRATE_TEST_PG_BINDIR=$MIGRATE_TEST_PG_BINDIR lacks one of ${tools[*]}" >&2
		return 1
	fi
	local IFS=:
	for d in $PATH; do
		[ -x "$d/initdb" ] || continue
		# Follow symlinks: /usr/local/bin may hold links to only some tools.
		real=$(dirname "$(readlink -f "$d/initdb")")
		has_tools "$real" && { echo "$real"; return 0; }
		has_tools "$d" && { echo "$d"; return 0; }
	done
	unset IFS
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		has_tools "$d" && { echo "$d"; return 0; }
	fi
	# Highest version first.
	for d in $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin /usr/local/pgsql/bin 2>/dev/null | sort -rV || true); do
		has_tools "$d" && { echo "$d"; return 0; }
	done
	return 1
}
