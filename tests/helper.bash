# Shared bats helpers: start a real chat-dird on an ephemeral loopback port
# with a fresh database in the test's own temporary folder.

# The programs keep keys and state under CHAT_HOME: each test has its own,
# never the HOME of whoever runs the suite.
if [ -n "${BATS_TEST_TMPDIR:-}" ]; then
	export CHAT_HOME=${CHAT_HOME:-$BATS_TEST_TMPDIR/home}
fi

# Every test has a time limit, so that a hang fails with the test's name
# (tests/README); tests/run sets it, this is for bats run by hand.
: "${BATS_TEST_TIMEOUT:=180}"

# pg_db: a fresh database on the test PostgreSQL (CHAT_TEST_PG, the
# folder tests/pg-cluster started it in); prints its URL.
pg_db() {
	"$BATS_TEST_DIRNAME/pg-cluster" url "$CHAT_TEST_PG" \
		"t$$_${BATS_TEST_NUMBER:-0}_$RANDOM"
}

# db_sql SQL: runs SQL on the test's database, the SQLite file or the
# PostgreSQL URL in DIRD_DB, and prints the rows.
db_sql() {
	case $DIRD_DB in
	postgres://* | postgresql://*) psql -X -q -A -t -d "$DIRD_DB" -c "$1" ;;
	*) sqlite3 "$DIRD_DB" "$1" ;;
	esac
}

# start_dird [ARGS...]: starts chat-dird, waits for its "listening" line,
# and sets DIRD_PID, DIRD_PORT, DIRD_DB, CHAT_SERVER (exported), DIRD_LOG.
# With CHAT_TEST_PG set, the database is a fresh one on that PostgreSQL.
start_dird() {
	if [ -z "${DIRD_DB:-}" ] && [ -n "${CHAT_TEST_PG:-}" ]; then
		DIRD_DB=$(pg_db) || return 1
	fi
	DIRD_DB=${DIRD_DB:-$BATS_TEST_TMPDIR/dir.db}
	DIRD_LOG=$BATS_TEST_TMPDIR/dird.log
	DIRD_OUT=$BATS_TEST_TMPDIR/dird.out
	: >"$DIRD_OUT"
	# A daemon started again on its old port would take STUN's fixed
	# 3478 beside it, which another program on this machine may hold:
	# such a restart runs without STUN unless the test says otherwise;
	# the same for the relay's 3479.
	local a fixed='' stun='' relay=''
	for a in "$@"; do
		case $a in
		*:0) ;;
		127.0.0.1:[1-9]* | \[::1\]:[1-9]*) fixed=1 ;;
		--stun* | --no-stun) stun=1 ;;
		--relay* | --no-relay) relay=1 ;;
		esac
	done
	[ -n "$fixed" ] && [ -z "$stun" ] && set -- "$@" --no-stun
	[ -n "$fixed" ] && [ -z "$relay" ] && set -- "$@" --no-relay
	chat-dird -l 127.0.0.1:0 -d "$DIRD_DB" "$@" >"$DIRD_OUT" 2>"$DIRD_LOG" &
	DIRD_PID=$!
	for _ in $(seq 1 200); do
		if grep -q '"listening"' "$DIRD_OUT" 2>/dev/null; then
			DIRD_PORT=$(jq -r .port "$DIRD_OUT" | head -n 1)
			CHAT_SERVER=http://127.0.0.1:$DIRD_PORT
			export CHAT_SERVER DIRD_PID DIRD_PORT DIRD_DB
			return 0
		fi
		kill -0 "$DIRD_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "chat-dird did not start:" >&2
	cat "$DIRD_LOG" >&2
	return 1
}

# stop_dird: SIGTERM, then wait; used in teardown. Safe to call twice, and
# on a daemon a test paused with SIGSTOP.
stop_dird() {
	if [ -n "${DIRD_PID:-}" ]; then
		kill "$DIRD_PID" 2>/dev/null || true
		kill -CONT "$DIRD_PID" 2>/dev/null || true
		wait "$DIRD_PID" 2>/dev/null || true
		DIRD_PID=
	fi
}

# api METHOD PATH [JSON]: one request; sets $status_code and $body. With
# API_SIG set, the request carries it as its Chat-Signature.
api() {
	local method=$1 path=$2 data=${3-}
	local f=$BATS_TEST_TMPDIR/body.$$ sig=()
	[ -n "${API_SIG:-}" ] && sig=(-H "Chat-Signature: $API_SIG")
	if [ $# -ge 3 ]; then
		status_code=$(curl -s -o "$f" -w '%{http_code}' -X "$method" \
			-H 'Content-Type: application/json' "${sig[@]}" \
			--data-binary "$data" "$CHAT_SERVER$path")
	else
		status_code=$(curl -s -o "$f" -w '%{http_code}' -X "$method" \
			"${sig[@]}" "$CHAT_SERVER$path")
	fi
	body=$(cat "$f")
	rm -f "$f"
}

# api_as USER METHOD PATH [JSON]: api, signed as USER with the key the
# programs made for USER under CHAT_HOME (chat-key sign). JSON as @FILE
# sends the file, as curl does.
api_as() {
	local user=$1 sig
	shift
	if [ $# -ge 3 ] && [ "${3:0:1}" = @ ]; then
		sig=$(chat-key -u "$user" sign "$1" "$2" "${3#@}" |
			jq -r .value) || return 1
	elif [ $# -ge 3 ]; then
		sig=$(printf '%s' "$3" | chat-key -u "$user" sign "$1" "$2" - |
			jq -r .value) || return 1
	else
		sig=$(chat-key -u "$user" sign "$1" "$2" | jq -r .value) || return 1
	fi
	API_SIG=$sig api "$@"
}

# expect STATUS JQ-EXPR: asserts the last api call's status and that the
# jq expression is true of its body.
expect() {
	if [ "$status_code" != "$1" ]; then
		echo "expected status $1, got $status_code: $body" >&2
		return 1
	fi
	if [ $# -ge 2 ] && ! printf '%s' "$body" | jq -e "$2" >/dev/null; then
		echo "body fails $2: $body" >&2
		return 1
	fi
}

# wait_pid PID SECONDS: waits up to SECONDS for PID, a background job of
# this test, to exit; sets $wait_rc to its exit status. When it does not
# exit in time it is killed and wait_pid fails.
# shellcheck disable=SC2034 # wait_rc is for the caller
wait_pid() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$1" 2>/dev/null; then
		echo "pid $1 still running after $2 s: killed" >&2
		kill -9 "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
		return 1
	fi
	wait_rc=0
	wait "$1" || wait_rc=$?
}
