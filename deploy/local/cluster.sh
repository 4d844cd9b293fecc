#!/usr/bin/env bash
# cluster.sh runs docker-compose.yml's production topology on this machine, without
# Docker: PostgreSQL, Temporal's schema, the Temporal server (4 history shards, the
# dynamic config of deploy/temporal/), the namespace and search attributes
# (deploy/temporal/setup.sh), the codec server and the Web UI that decodes through it, the
# HeyGen sandbox, two `reelflow receiver`s behind a load balancer, and two `reelflow
# worker`s. Payloads are encrypted with the keys in $REELFLOW_CLUSTER_DIR/payload.keys,
# made on the first `up`; the script also leaves them where the reelflow CLI looks for the
# keys of the Temporal it talks to (<user config dir>/reelflow/dev-HOST_PORT.keys), so that
# `reelflow start/status/cancel` work against the cluster with no flag.
#
#   deploy/local/cluster.sh up            # build, then start everything; fails if already up
#   deploy/local/cluster.sh status        # one line per process; exit 1 if any is down
#   deploy/local/cluster.sh down [--wipe] # stop everything; --wipe also deletes the data
#   deploy/local/cluster.sh start NAME    # start one process again (after a crash or a kill)
#   deploy/local/cluster.sh pid NAME | env SERVICE | versions | ports
#
# Why a script and not a `reelflow` subcommand: it does what compose does, with the same
# files (schema.sh and setup.sh run unchanged) and the same environment variables, on
# the same binaries, one process per container. A subcommand would put process
# supervision and PostgreSQL administration into the product binary, which ships
# without them in the image. drift_test.go compares this file with docker-compose.yml.
#
# Settings (environment): REELFLOW_CLUSTER_DIR (state, default .reelflow/cluster),
# REELFLOW_CLUSTER_BIN (the binaries, default $REELFLOW_CLUSTER_DIR/bin),
# REELFLOW_CLUSTER_PORT_BASE (default 27300; the stack uses 19 ports from there),
# TEMPORAL_NAMESPACE, REELFLOW_SANDBOX_RENDER_TIME, REELFLOW_SANDBOX_DROP_RATE,
# OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_ENDPOINT (the workers' and receivers' traces).
# Run it as root (PostgreSQL then runs as the postgres user) or as a normal user.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${REELFLOW_CLUSTER_DIR:-$ROOT/.reelflow/cluster}
BIN=${REELFLOW_CLUSTER_BIN:-$DIR/bin}
RUN=$DIR/run
LOGS=$DIR/logs
BASE=${REELFLOW_CLUSTER_PORT_BASE:-27300}
NAMESPACE=${TEMPORAL_NAMESPACE:-default}

# What compose pins; drift_test.go holds these equal to docker-compose.yml and go.mod.
TEMPORAL_VERSION=1.32.1
UI_VERSION=2.54.1
PG_MAJOR=15
NUM_HISTORY_SHARDS=4
DYNAMIC_CONFIG=$ROOT/deploy/temporal/dynamicconfig/reelflow.yaml
POSTGRES_USER=temporal

# Ports: compose gives every container its own network namespace; here they share one.
PG_PORT=$BASE
FRONTEND_PORT=$((BASE + 1))
UI_PORT=$((BASE + 11))
SANDBOX_PORT=$((BASE + 12))
BALANCER_PORT=$((BASE + 13))
RECEIVER_PORTS=($((BASE + 14)) $((BASE + 15)))
WORKER_METRICS_PORTS=($((BASE + 16)) $((BASE + 17)))
CODEC_PORT=$((BASE + 18))
TEMPORAL_ADDRESS=127.0.0.1:$FRONTEND_PORT
SANDBOX_URL=http://127.0.0.1:$SANDBOX_PORT
WEBHOOK_URL=http://127.0.0.1:$BALANCER_PORT/webhooks/heygen
SANDBOX_API_KEY=sandbox

# Processes in start order; postgresql is run by pg_ctl, the rest by launch.
PROCESSES=(temporal codec ui sandbox balancer receiver1 receiver2 worker1 worker2)

die() {
	echo "cluster: $*" >&2
	exit 1
}
say() { echo "cluster: $*"; }

# ---- environment of each service, as compose sets it ------------------------------

# env_of prints NAME's environment, one KEY=VALUE a line, with compose's variable names.
env_of() {
	case $1 in
	postgresql) printf '%s\n' "POSTGRES_USER=$POSTGRES_USER" "POSTGRES_PASSWORD=$(pg_password)" ;;
	temporal-schema)
		printf '%s\n' SQL_PLUGIN=postgres12 SQL_HOST=127.0.0.1 "SQL_PORT=$PG_PORT" \
			"SQL_USER=$POSTGRES_USER" "SQL_PASSWORD=$(pg_password)" "TEMPORAL_SCHEMA_DIR=$(schema_dir)"
		;;
	temporal)
		printf '%s\n' DB=postgres12 "DB_PORT=$PG_PORT" POSTGRES_SEEDS=127.0.0.1 \
			"POSTGRES_USER=$POSTGRES_USER" "POSTGRES_PWD=$(pg_password)" \
			"NUM_HISTORY_SHARDS=$NUM_HISTORY_SHARDS" BIND_ON_IP=127.0.0.1 \
			"DYNAMIC_CONFIG_FILE_PATH=$DYNAMIC_CONFIG" \
			"FRONTEND_GRPC_PORT=$FRONTEND_PORT" "FRONTEND_HTTP_PORT=$((BASE + 2))" \
			"FRONTEND_MEMBERSHIP_PORT=$((BASE + 3))" "HISTORY_GRPC_PORT=$((BASE + 4))" \
			"HISTORY_MEMBERSHIP_PORT=$((BASE + 5))" "MATCHING_GRPC_PORT=$((BASE + 6))" \
			"MATCHING_MEMBERSHIP_PORT=$((BASE + 7))" "WORKER_GRPC_PORT=$((BASE + 8))" \
			"WORKER_MEMBERSHIP_PORT=$((BASE + 9))" "INTERNAL_FRONTEND_HTTP_PORT=$((BASE + 10))"
		;;
	temporal-setup) printf '%s\n' "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS" "TEMPORAL_NAMESPACE=$NAMESPACE" ;;
	ui | temporal-ui)
		printf '%s\n' "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS" "TEMPORAL_DEFAULT_NAMESPACE=$NAMESPACE" \
			"TEMPORAL_CODEC_ENDPOINT=http://127.0.0.1:$CODEC_PORT"
		;;
	codec | codec-server)
		printf '%s\n' "REELFLOW_CODEC_ADDR=127.0.0.1:$CODEC_PORT" \
			"REELFLOW_CODEC_ORIGINS=http://127.0.0.1:$UI_PORT,http://localhost:$UI_PORT" \
			"REELFLOW_CODEC_NAMESPACES=$NAMESPACE" "REELFLOW_PAYLOAD_KEYS=$(payload_keys)" REELFLOW_LOG_FORMAT=json
		;;
	worker | worker[12])
		local i=${1#worker}
		printf '%s\n' "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS" "TEMPORAL_NAMESPACE=$NAMESPACE" \
			"HEYGEN_API_KEY=$SANDBOX_API_KEY" "HEYGEN_BASE_URL=$SANDBOX_URL" \
			"REELFLOW_METRICS_ADDR=127.0.0.1:${WORKER_METRICS_PORTS[${i:-1} - 1]}" \
			REELFLOW_DEPLOYMENT_NAME= REELFLOW_BUILD_ID= REELFLOW_STOP_TIMEOUT=30s REELFLOW_LOG_FORMAT=json
		otel_env
		;;
	receiver | receiver[12])
		local i=${1#receiver}
		printf '%s\n' "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS" "TEMPORAL_NAMESPACE=$NAMESPACE" \
			"REELFLOW_RECEIVER_ADDR=127.0.0.1:${RECEIVER_PORTS[${i:-1} - 1]}" \
			"HEYGEN_WEBHOOK_SECRETS=$(cat "$DIR/webhook-secret" 2>/dev/null || true)" REELFLOW_LOG_FORMAT=json
		otel_env
		;;
	sandbox)
		printf '%s\n' "REELFLOW_SANDBOX_ADDR=127.0.0.1:$SANDBOX_PORT" "REELFLOW_SANDBOX_STATE=$DIR/sandbox.json" \
			"REELFLOW_SANDBOX_RENDER_TIME=${REELFLOW_SANDBOX_RENDER_TIME:-3s}" \
			"REELFLOW_SANDBOX_DROP_RATE=${REELFLOW_SANDBOX_DROP_RATE:-0}" REELFLOW_LOG_FORMAT=json
		;;
	balancer) ;;
	*) die "unknown service $1" ;;
	esac
}

# otel_env prints the payload keys and the tracing settings that compose gives the worker and
# the receiver. No Jaeger runs here: OTLP goes to a collector on loopback, if you run one.
otel_env() {
	printf '%s\n' "REELFLOW_PAYLOAD_KEYS=$(payload_keys)" "OTEL_TRACES_EXPORTER=${OTEL_TRACES_EXPORTER:-none}" \
		"OTEL_EXPORTER_OTLP_ENDPOINT=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:4318}"
}

# command_of prints NAME's command line, one word a line.
command_of() {
	case $1 in
	temporal) printf '%s\n' "$BIN/temporal-server" start ;;
	codec) printf '%s\n' "$BIN/reelflow" codec-server ;;
	ui) printf '%s\n' "$BIN/clusterctl" ui -port "$UI_PORT" ;;
	sandbox) printf '%s\n' "$BIN/reelflow" sandbox ;;
	balancer)
		printf '%s\n' "$BIN/clusterctl" balance -listen "127.0.0.1:$BALANCER_PORT" -log "$DIR/deliveries.jsonl" \
			-backends "http://127.0.0.1:${RECEIVER_PORTS[0]},http://127.0.0.1:${RECEIVER_PORTS[1]}"
		;;
	receiver[12]) printf '%s\n' "$BIN/reelflow" receiver ;;
	worker[12]) printf '%s\n' "$BIN/reelflow" worker ;;
	*) die "unknown process $1 (want one of: postgresql ${PROCESSES[*]})" ;;
	esac
}

# ready_of prints a command that succeeds once NAME serves.
ready_of() {
	case $1 in
	temporal) echo "$BIN/temporal operator cluster health --address $TEMPORAL_ADDRESS" ;;
	codec) echo "$BIN/reelflow health http://127.0.0.1:$CODEC_PORT/healthz" ;;
	ui) echo "$BIN/reelflow health http://127.0.0.1:$UI_PORT/" ;;
	sandbox) echo "$BIN/reelflow health $SANDBOX_URL/_sandbox/stats" ;;
	balancer) echo "port_open $BALANCER_PORT" ;;
	receiver[12]) echo "$BIN/reelflow health http://127.0.0.1:${RECEIVER_PORTS[${1#receiver} - 1]}/readyz" ;;
	worker[12]) echo "$BIN/reelflow health http://127.0.0.1:${WORKER_METRICS_PORTS[${1#worker} - 1]}/healthz" ;;
	esac
}

# ports_of prints the ports NAME listens on, for the check before a start.
ports_of() {
	case $1 in
	postgresql) echo "$PG_PORT" ;;
	temporal) seq "$FRONTEND_PORT" $((BASE + 10)) ;;
	codec) echo "$CODEC_PORT" ;;
	ui) echo "$UI_PORT" ;;
	sandbox) echo "$SANDBOX_PORT" ;;
	balancer) echo "$BALANCER_PORT" ;;
	receiver[12]) echo "${RECEIVER_PORTS[${1#receiver} - 1]}" ;;
	worker[12]) echo "${WORKER_METRICS_PORTS[${1#worker} - 1]}" ;;
	esac
}

# ---- helpers ------------------------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_of() {
	local f=$RUN/$1.pid pid
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

# wait_until SECONDS WHAT PID CMD...: polls CMD until it succeeds; fails early when the
# process PID (0 = none) has died, with the tail of its log.
wait_until() {
	local secs=$1 what=$2 pid=$3
	shift 3
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [[ $pid != 0 ]] && ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$LOGS/$what.log" >&2 || true
			die "$what exited during start-up; log: $LOGS/$what.log"
		fi
		((SECONDS < deadline)) || die "$what not ready after ${secs}s; log: $LOGS/$what.log"
		sleep 0.2
	done
}

check_ports() {
	local p
	for p in $(ports_of "$1"); do
		if port_open "$p"; then
			die "port $p ($1) is already taken by another process: free it, or move the whole stack with REELFLOW_CLUSTER_PORT_BASE (now $BASE)"
		fi
	done
}

# launch NAME: starts NAME in a session of its own with only compose's environment
# (plus PATH and HOME), and waits until it is ready.
launch() {
	local name=$1 pid
	local -a envs cmd
	pid_of "$name" >/dev/null && die "$name is already running (pid $(pid_of "$name"))"
	check_ports "$name"
	mapfile -t envs < <(env_of "$name")
	mapfile -t cmd < <(command_of "$name")
	setsid env -i PATH="$PATH" HOME="${HOME:-/}" "${envs[@]}" "${cmd[@]}" >>"$LOGS/$name.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$RUN/$name.pid"
	# shellcheck disable=SC2046 # ready_of prints a command line
	wait_until 180 "$name" "$pid" $(ready_of "$name")
	say "$name up (pid $pid)"
}

# stop NAME [GRACE]: SIGTERM, then SIGKILL after GRACE seconds (compose's
# stop_grace_period is 40 s for workers and receivers; docker's default is 10 s).
stop() {
	local name=$1 grace=${2:-10} pid
	pid=$(pid_of "$name") || {
		rm -f "$RUN/$name.pid"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + grace))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		say "$name did not stop within ${grace}s: killed"
	fi
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f "$RUN/$name.pid"
	say "$name stopped"
}

# ---- payload keys ---------------------------------------------------------------------

# payload_keys prints the cluster's payload keys as REELFLOW_PAYLOAD_KEYS takes them
# (id:base64key, comma-separated, the first encrypts), first making one key in
# $DIR/payload.keys (mode 0600) if there is none. To rotate, put a new key at the top of
# that file and restart the workers, receivers and codec server (`start NAME`).
payload_keys() {
	local f=$DIR/payload.keys
	if [[ ! -s $f ]]; then
		mkdir -p "$DIR"
		(umask 077 && {
			echo "# reelflow payload keys: id:base64key, the first encrypts, every one decrypts. Secret."
			echo "k-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n'):$(head -c 32 /dev/urandom | base64 -w0)"
		} >"$f.tmp" && mv "$f.tmp" "$f")
	fi
	grep -v '^[[:space:]]*\(#\|$\)' "$f" | paste -sd, -
}

# cli_key_file is where the reelflow CLI looks for the keys of the Temporal at
# $TEMPORAL_ADDRESS when none is configured (Go's os.UserConfigDir on Linux).
cli_key_file() {
	local cfg=${XDG_CONFIG_HOME:-${HOME:?}/.config}
	echo "$cfg/reelflow/dev-${TEMPORAL_ADDRESS//:/_}.keys"
}

# share_keys gives the CLI the cluster's keys: it copies payload.keys to cli_key_file.
share_keys() {
	local f
	f=$(cli_key_file)
	payload_keys >/dev/null
	mkdir -p "$(dirname "$f")"
	chmod 700 "$(dirname "$f")"
	(umask 077 && cp "$DIR/payload.keys" "$f.tmp" && mv "$f.tmp" "$f")
}

# ---- PostgreSQL ---------------------------------------------------------------------

pg_bin() {
	local d=/usr/lib/postgresql/$PG_MAJOR/bin
	if [[ -x $d/pg_ctl ]]; then
		echo "$d"
	elif command -v pg_config >/dev/null && [[ $(pg_config --version) == "PostgreSQL $PG_MAJOR".* ]]; then
		pg_config --bindir
	else
		return 1
	fi
}

pg_missing() {
	echo "PostgreSQL $PG_MAJOR is not installed. Install it with: apt-get install -y postgresql (as root; Debian 12 gives $PG_MAJOR, elsewhere name postgresql-$PG_MAJOR)"
}

# as_pg runs a PostgreSQL program as the postgres user when this is root (PostgreSQL
# refuses to run as root), as this user otherwise.
as_pg() {
	if ((EUID == 0)); then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# pg_home holds PostgreSQL's data, socket and log: DIR when the postgres user can reach
# it, else a directory in postgres' home named after DIR (a clone under /root is closed
# to other users).
pg_home() {
	local d=$DIR
	if ((EUID == 0)) && ! runuser -u postgres -- test -x "$DIR"; then
		d=/var/lib/postgresql/reelflow-cluster-$(echo "$DIR" | cksum | cut -d' ' -f1)
	fi
	echo "$d"
}

pg_data() { echo "$(pg_home)/pgdata"; }

pg_password() {
	mkdir -p "$DIR"
	[[ -f $DIR/postgres-password ]] || (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DIR/postgres-password")
	cat "$DIR/postgres-password"
}

pg_up() {
	local bin home data log
	bin=$(pg_bin) || die "$(pg_missing)"
	home=$(pg_home)
	data=$home/pgdata
	log=$home/postgresql.log
	mkdir -p "$home/pgsock" "$LOGS"
	[[ $log == "$LOGS/postgresql.log" ]] || ln -sf "$log" "$LOGS/postgresql.log"
	: >>"$log"
	if ((EUID == 0)); then chown postgres: "$home/pgsock" "$log"; fi
	if [[ ! -f $data/PG_VERSION ]]; then
		mkdir -p "$data"
		local pw
		pw=$(mktemp)
		pg_password >"$pw"
		if ((EUID == 0)); then chown postgres: "$data" "$pw"; fi
		# Password auth over TCP, as the postgres image sets it up from POSTGRES_PASSWORD.
		as_pg "$bin/initdb" -D "$data" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust \
			--auth-host=scram-sha-256 -E UTF8 >>"$log" 2>&1 || {
			rm -f "$pw"
			die "initdb failed; log: $log"
		}
		rm -f "$pw"
	fi
	if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		die "PostgreSQL is already running on $data: run \`$0 down\` first"
	fi
	check_ports postgresql
	as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
		-o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $home/pgsock" start >/dev/null ||
		die "PostgreSQL did not start; log: $log"
	say "postgresql up on 127.0.0.1:$PG_PORT ($data)"
}

pg_down() {
	local bin data
	bin=$(pg_bin) || return 0
	data=$(pg_data)
	[[ -f $data/PG_VERSION ]] || return 0
	if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
		say "postgresql stopped"
	fi
}

psql_value() {
	PGPASSWORD=$(pg_password) "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$POSTGRES_USER" -d "$1" -tAc "$2"
}

# ---- Temporal -----------------------------------------------------------------------

schema_dir() { echo "$(cd "$ROOT" && go list -m -f '{{.Dir}}' go.temporal.io/server)/schema/postgresql/v12"; }

# latest_version prints the newest schema version of a versioned schema directory.
latest_version() { find "$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sed 's/^v//' | sort -V | tail -n 1; }

# schema runs compose's temporal-schema job (deploy/temporal/schema.sh, unchanged), then
# checks that both databases are at the version this server wants.
schema() {
	local -a envs
	mapfile -t envs < <(env_of temporal-schema)
	if ! env "${envs[@]}" PATH="$BIN:$PATH" sh "$ROOT/deploy/temporal/schema.sh" >>"$LOGS/temporal-schema.log" 2>&1; then
		tail -n 5 "$LOGS/temporal-schema.log" >&2
		schema_versions || true
		die "the schema step failed; log: $LOGS/temporal-schema.log"
	fi
	schema_versions
	say "schema ready"
}

schema_versions() {
	local db dir want got
	for db in temporal:temporal temporal_visibility:visibility; do
		dir=$(schema_dir)/${db#*:}/versioned
		want=$(latest_version "$dir")
		got=$(psql_value "${db%%:*}" "SELECT curr_version FROM schema_version") || die "cannot read the schema version of ${db%%:*}"
		[[ $got == "$want" ]] || die "database ${db%%:*} has schema $got, but Temporal $TEMPORAL_VERSION wants $want: the data in $(pg_data) was made by another Temporal version. Run the server that made it, or \`$0 down --wipe\` to start over (deletes every workflow)"
	done
}

setup_namespace() {
	local -a envs
	mapfile -t envs < <(env_of temporal-setup)
	env "${envs[@]}" PATH="$BIN:$PATH" sh "$ROOT/deploy/temporal/setup.sh" >>"$LOGS/temporal-setup.log" 2>&1 ||
		die "namespace setup failed; log: $LOGS/temporal-setup.log"
	say "namespace $NAMESPACE ready (ReelflowStage, HeyGenJobID, ReelflowCampaign)"
}

# webhook_secret registers the balancer with the sandbox once, and keeps the secret
# (shown only once) for the receivers, as docs/production.md's compose steps do by hand.
webhook_secret() {
	local -a hg=(env HEYGEN_API_KEY=$SANDBOX_API_KEY HEYGEN_BASE_URL=$SANDBOX_URL "$BIN/reelflow" webhook)
	if [[ -s $DIR/webhook-secret ]] && "${hg[@]}" list | grep -qF " $WEBHOOK_URL "; then
		return 0
	fi
	local out
	out=$("${hg[@]}" register "$WEBHOOK_URL") || die "register $WEBHOOK_URL with the sandbox: $out"
	(umask 077 && sed -n 's/^give it to every receiver: HEYGEN_WEBHOOK_SECRETS=//p' <<<"$out" >"$DIR/webhook-secret")
	[[ -s $DIR/webhook-secret ]] || die "no signing secret in: $out"
	say "webhook endpoint $WEBHOOK_URL registered"
}

# ---- build --------------------------------------------------------------------------

build() {
	command -v go >/dev/null || die "go is not on PATH"
	mkdir -p "$BIN"
	cd "$ROOT"
	# reelflow as the image builds it (-tags nodev); the server and SQL tool from the
	# module go.mod pins, as the temporalio images are built from the same release.
	go build -tags nodev -o "$BIN/reelflow" ./cmd/reelflow
	go build -o "$BIN/clusterctl" ./deploy/local/clusterctl
	[[ -x $BIN/temporal-server ]] || go build -o "$BIN/temporal-server" go.temporal.io/server/cmd/server
	[[ -x $BIN/temporal-sql-tool ]] || go build -o "$BIN/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql
	# The real Temporal CLI, which setup.sh runs and a user of the cluster gets, from the
	# release deploy/local/temporalcli/go.mod pins: a module of its own, because the CLI
	# pins an older server than ours. An earlier build's stand-in was a symlink.
	[[ -L $BIN/temporal ]] && rm -f "$BIN/temporal"
	[[ -x $BIN/temporal ]] || go build -C deploy/local/temporalcli -o "$(cd "$BIN" && pwd)/temporal" github.com/temporalio/cli/cmd/temporal
	cd - >/dev/null
	say "built into $BIN"
}

# ---- commands -----------------------------------------------------------------------

up() {
	local p
	for p in "${PROCESSES[@]}"; do
		pid_of "$p" >/dev/null && die "the cluster is already up ($p is pid $(pid_of "$p")): see \`$0 status\`, or \`$0 down\` first"
	done
	mkdir -p "$RUN" "$LOGS"
	pg_bin >/dev/null || die "$(pg_missing)"
	for p in postgresql "${PROCESSES[@]}"; do check_ports "$p"; done
	# From here on, a failed step stops what the earlier ones started.
	trap 'if [[ ${UP_DONE:-} != 1 ]]; then say "up failed: stopping what it started"; down >/dev/null; fi' EXIT
	build
	pg_up
	schema
	launch temporal
	setup_namespace
	share_keys
	launch codec
	launch ui
	launch sandbox
	launch balancer
	webhook_secret
	for p in receiver1 receiver2 worker1 worker2; do launch "$p"; done
	say "up. Temporal $TEMPORAL_ADDRESS, Web UI http://127.0.0.1:$UI_PORT, webhooks $WEBHOOK_URL, sandbox $SANDBOX_URL"
	say "use it: export TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS TEMPORAL_NAMESPACE=$NAMESPACE"
	say "payloads are encrypted with $DIR/payload.keys; the reelflow CLI reads them from $(cli_key_file), the Web UI decodes through the codec server http://127.0.0.1:$CODEC_PORT"
	UP_DONE=1
}

down() {
	local p
	for p in worker2 worker1; do stop "$p" 40 & done
	wait
	for p in receiver2 receiver1; do stop "$p" 40; done
	for p in balancer sandbox ui codec temporal; do stop "$p" 10; done
	pg_down
	if [[ ${1:-} == --wipe ]]; then
		local home
		home=$(pg_home)
		rm -rf "$home/pgdata" "$home/pgsock" "$home/postgresql.log" "$DIR/sandbox.json" "$DIR/webhook-secret" "$DIR/postgres-password" \
			"$DIR/deliveries.jsonl" "$DIR/payload.keys" "$(cli_key_file)" "$LOGS" "$RUN"
		[[ $home == "$DIR" ]] || rmdir "$home" 2>/dev/null || true
		say "data wiped"
	fi
}

status() {
	local p pid bad=0
	if (pg_bin >/dev/null) && as_pg "$(pg_bin)/pg_ctl" -D "$(pg_data)" status >/dev/null 2>&1; then
		printf '%-11s %-8s %s\n' postgresql up "127.0.0.1:$PG_PORT"
	else
		printf '%-11s %-8s\n' postgresql down
		bad=1
	fi
	for p in "${PROCESSES[@]}"; do
		if pid=$(pid_of "$p"); then
			printf '%-11s %-8s pid %s, ports %s\n' "$p" up "$pid" "$(ports_of "$p" | head -n 1)"
		else
			printf '%-11s %-8s\n' "$p" down
			bad=1
		fi
	done
	return $bad
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	up) up ;;
	down) down "$@" ;;
	status) status ;;
	start)
		[[ ${1:-} == postgresql ]] && {
			pg_up
			return
		}
		command_of "${1:-}" >/dev/null
		mkdir -p "$RUN" "$LOGS"
		launch "$1"
		;;
	pid) pid_of "${1:?pid NAME}" || die "${1} is not running" ;;
	env) env_of "${1:?env SERVICE}" ;;
	versions) printf '%s\n' "TEMPORAL_VERSION=$TEMPORAL_VERSION" "UI_VERSION=$UI_VERSION" "PG_MAJOR=$PG_MAJOR" ;;
	ports) printf 'temporal=%s ui=%s codec=%s sandbox=%s webhook=%s receivers=%s,%s postgresql=%s\n' "$TEMPORAL_ADDRESS" \
		"$UI_PORT" "$CODEC_PORT" "$SANDBOX_PORT" "$BALANCER_PORT" "${RECEIVER_PORTS[0]}" "${RECEIVER_PORTS[1]}" "$PG_PORT" ;;
	*) die "usage: $0 up | down [--wipe] | status | start NAME | pid NAME | env SERVICE | versions | ports" ;;
	esac
}

main "$@"
