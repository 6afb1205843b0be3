#!/usr/bin/env bash
# A throwaway PostgreSQL primary + streaming standby for shell scripts (the
# demo); the Go tests have their own in integration/pgtest.
#
#   scripts/pgcluster.sh start [DIR]   start both, print shell assignments
#   scripts/pgcluster.sh stop DIR      stop both (immediately) and delete DIR
#
# start creates DIR (default: a new mktemp directory; an existing DIR must be
# empty), puts the data directories, logs and unix sockets in it, listens on
# free loopback ports, and prints, quoted for eval:
#
#   DATADIR=/tmp/pgcluster.Ab12Cd
#   PGBIN=/usr/lib/postgresql/15/bin
#   PSQL=/usr/lib/postgresql/15/bin/psql       (next to the servers, else from PATH)
#   PGBENCH=/usr/lib/postgresql/15/bin/pgbench
#   PRIMARY_DSN=postgres://postgres@127.0.0.1:41234/demo?sslmode=disable
#   STANDBY_DSN=postgres://postgres@127.0.0.1:41235/demo?sslmode=disable
#   PRIMARY_PORT=41234
#   STANDBY_PORT=41235
#
# so a caller does:  eval "$(scripts/pgcluster.sh start "$dir")"
# A caller that must clean up even when start is interrupted creates DIR
# itself (mktemp -d) and runs "stop DIR" from its EXIT trap.
#
# The server binaries are found as scripts/ensure-postgres.sh finds them
# (MIGRATE_TEST_PG_BINDIR, PATH, pg_config --bindir, /usr/lib/postgresql/*).
# PostgreSQL refuses to run as root, so as root the tools run as the
# postgres OS user through runuser(1). Authentication is trust, on
# 127.0.0.1 and the socket only. PGCLUSTER_DB names the database created on
# the primary (default demo). Needs PostgreSQL 12 or later.
set -euo pipefail

db=${PGCLUSTER_DB:-demo}
. "$(dirname "${BASH_SOURCE[0]}")/pgbin.sh"

die() { echo "pgcluster: $*" >&2; exit 1; }

# as_pg runs a PostgreSQL tool as the server's OS user, from DIR (the
# postgres user may not be allowed into the caller's working directory), with
# no PG* variables that would redirect it.
as_pg() {
	local tool=$1
	shift
	local -a envclean=(env)
	local v
	for v in $(compgen -e); do
		case $v in PG*) envclean+=(-u "$v") ;; esac
	done
	case $tool in */*) ;; *) tool=$bin/$tool ;; esac
	if [ "$(id -u)" -eq 0 ]; then
		(cd "$dir" && "${envclean[@]}" runuser -u postgres -- "$tool" "$@")
	else
		(cd "$dir" && "${envclean[@]}" "$tool" "$@")
	fi
}

# assign NAME VALUE prints NAME='VALUE', single-quoted for eval.
assign() {
	printf "%s='%s'\n" "$1" "${2//\'/\'\\\'\'}"
}

# client NAME: the client program NAME next to the server binaries, else on PATH.
client() {
	if [ -x "$bin/$1" ]; then
		echo "$bin/$1"
	else
		command -v "$1" || die "$1 not found next to the server binaries in $bin or on PATH"
	fi
}

# port_in_use succeeds when something accepts connections on 127.0.0.1:$1.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		port_in_use "$p" || { echo "$p"; return 0; }
	done
	die "found no free port on 127.0.0.1"
}

# start_server NAME: start $dir/NAME on a free port, retrying with another
# port when something else took it between the probe and the bind.
start_server() {
	local name=$1 port attempt
	for attempt in 1 2 3 4 5; do
		port=$(pick_port)
		echo "port = $port" >>"$dir/$name/postgresql.conf"
		if as_pg pg_ctl -D "$dir/$name" -l "$dir/$name.log" -w -t 60 start >"$dir/$name.pg_ctl.out" 2>&1; then
			echo "$port"
			return 0
		fi
		if ! grep -Eq 'could not bind|could not create listen socket|Address already in use' "$dir/$name.log" 2>/dev/null; then
			cat "$dir/$name.pg_ctl.out" >&2
			tail -n 30 "$dir/$name.log" >&2 2>/dev/null || true
			die "could not start the $name server"
		fi
	done
	die "could not start the $name server: no free port after 5 attempts"
}

stop_cluster() {
	local dir=$1 node pid
	[ -d "$dir" ] || return 0
	bin=$(find_bindir || true)
	# Standby first, so the primary does not wait on its walsender.
	for node in standby primary; do
		[ -f "$dir/$node/postmaster.pid" ] || continue
		pid=$(head -n 1 "$dir/$node/postmaster.pid" 2>/dev/null || true)
		if [ -n "$bin" ]; then
			as_pg pg_ctl -D "$dir/$node" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
		fi
		# A postmaster pg_ctl could not stop (or no pg_ctl found) is killed
		# outright: the data is about to be deleted anyway.
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -QUIT "$pid" 2>/dev/null || true
			sleep 1
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	rm -rf -- "$dir"
}

start_cluster() {
	bin=$(find_bindir) || die "no PostgreSQL server binaries (${tools[*]}) found; run scripts/ensure-postgres.sh"
	local major
	major=$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')
	[ "$major" -ge 12 ] 2>/dev/null || die "PostgreSQL $major in $bin is too old; need 12 or later"
	if [ "$(id -u)" -eq 0 ]; then
		id -u postgres >/dev/null 2>&1 || die "running as root and there is no postgres OS user to run the servers as; run scripts/ensure-postgres.sh"
		command -v runuser >/dev/null 2>&1 || die "running as root and runuser(1) is missing"
	fi

	if [ -n "${1:-}" ]; then
		dir=$1
		mkdir -p -- "$dir"
		[ -z "$(ls -A -- "$dir")" ] || die "$dir is not empty"
	else
		dir=$(mktemp -d "${TMPDIR:-/tmp}/pgcluster.XXXXXX")
	fi
	dir=$(cd "$dir" && pwd -P)
	# Unix socket paths are limited to 107 bytes.
	[ ${#dir} -le 80 ] || die "$dir is too long for a unix socket directory; pass a shorter DIR"
	# Without a DIR from the caller, nobody else can clean up a half start.
	if [ -z "${1:-}" ]; then
		trap 'stop_cluster "$dir"' EXIT
		trap 'exit 130' INT TERM
	fi
	[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
	chmod 700 "$dir"

	as_pg initdb -D "$dir/primary" --auth=trust -U postgres -E UTF8 --locale=C --no-sync >"$dir/initdb.out" 2>&1 ||
		{ cat "$dir/initdb.out" >&2; die "initdb failed"; }
	local walkeep="wal_keep_size = '256MB'"
	[ "$major" -ge 13 ] || walkeep="wal_keep_segments = 16"
	cat >>"$dir/primary/postgresql.conf" <<-EOF
		# pgcluster.sh: a throwaway cluster, durability off.
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir'
		fsync = off
		full_page_writes = off
		shared_buffers = '128MB'
		wal_level = replica
		max_wal_senders = 10
		$walkeep
		hot_standby = on
		# replay_lag in pg_stat_replication follows the standby within a second.
		wal_receiver_status_interval = '1s'
		logging_collector = off
		log_line_prefix = '%m [%p] %q%a '
	EOF
	cat >"$dir/primary/pg_hba.conf" <<-EOF
		local all all trust
		local replication all trust
		host all all 127.0.0.1/32 trust
		host replication all 127.0.0.1/32 trust
	EOF
	[ "$(id -u)" -ne 0 ] || chown postgres: "$dir/primary/pg_hba.conf"

	local pport sport
	pport=$(start_server primary)
	local psql
	psql=$(client psql)
	as_pg "$psql" -X -q -h 127.0.0.1 -p "$pport" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE DATABASE \"$db\"" >/dev/null

	# -R writes standby.signal and primary_conninfo; -c fast skips waiting
	# for a spread checkpoint.
	as_pg pg_basebackup -D "$dir/standby" -R -X stream -c fast --no-sync \
		-d "host=127.0.0.1 port=$pport user=postgres application_name=pgcluster_standby" >"$dir/basebackup.out" 2>&1 ||
		{ cat "$dir/basebackup.out" >&2; die "pg_basebackup failed"; }
	sport=$(start_server standby)

	# Wait until the standby streams, so lag readings mean something.
	local i state=""
	for i in $(seq 1 300); do
		state=$(as_pg "$psql" -X -qAt -h 127.0.0.1 -p "$pport" -U postgres -d postgres \
			-c "SELECT state FROM pg_stat_replication WHERE application_name = 'pgcluster_standby'" 2>/dev/null || true)
		[ "$state" = streaming ] && break
		sleep 0.1
	done
	[ "$state" = streaming ] || { tail -n 20 "$dir/standby.log" >&2; die "the standby did not start streaming"; }
	trap - EXIT INT TERM

	assign DATADIR "$dir"
	assign PGBIN "$bin"
	assign PSQL "$(client psql)"
	assign PGBENCH "$(client pgbench)"
	assign PRIMARY_DSN "postgres://postgres@127.0.0.1:$pport/$db?sslmode=disable"
	assign STANDBY_DSN "postgres://postgres@127.0.0.1:$sport/$db?sslmode=disable"
	assign PRIMARY_PORT "$pport"
	assign STANDBY_PORT "$sport"
}

dir=""
bin=""
case "${1:-}" in
start)
	start_cluster "${2:-}"
	;;
stop)
	[ -n "${2:-}" ] || die "usage: $0 stop DIR"
	dir=$2
	stop_cluster "$dir"
	;;
*)
	echo "usage: $0 start [DIR] | stop DIR" >&2
	exit 2
	;;
esac
