#!/usr/bin/env bats
# Load: slow and idle clients do not starve a normal one; chat-dird holds
# 10,000 keep-alive connections and answers each; chat-listen takes 1,000
# concurrent senders and prints every message once.
# shellcheck disable=SC2154 # helpers set $body etc.

load helper
load api-helper

ROOT=$BATS_TEST_DIRNAME/..
IDLE=$ROOT/build/bench/idle-conns

setup() {
	W=$BATS_TEST_TMPDIR/w
	mkdir "$W"
	: >"$W/pids"
	LISTEN_PID=
	[ -x "$IDLE" ] || make -s -C "$ROOT" benches >&2 || skip "cannot build bench/idle-conns"
}

teardown() {
	local p
	[ -z "${TRICKLE_PID:-}" ] || touch "$W/stop"
	while read -r p; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done <"$W/pids"
	if [ -n "$LISTEN_PID" ]; then
		kill "$LISTEN_PID" 2>/dev/null || true
		wait "$LISTEN_PID" 2>/dev/null || true
	fi
	stop_dird
}

# figure VALUE: what this test measured, a line for tests/reliability.
figure() {
	printf 'figure\t%s\t%s\n' "$BATS_TEST_DESCRIPTION" "$1" >>"${RELIABILITY_OUT:-/dev/null}"
}

# fds N: raises the soft limit of open files to at least N, or skips.
fds() {
	local hard
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$hard" -lt "$1" ]; then
		skip "needs $1 open files; the hard limit is $hard"
	fi
	ulimit -n "$1"
}

# idle N SECONDS: starts idle-conns with N connections held SECONDS, and
# waits (up to 60 s) until every one was answered; output in $W/idle.out.
idle() {
	"$IDLE" 127.0.0.1 "$DIRD_PORT" "$1" "$2" >"$W/idle.out" 2>"$W/idle.err" &
	IDLE_PID=$!
	echo "$IDLE_PID" >>"$W/pids"
	for _ in $(seq 1 1200); do
		grep -q '"open"' "$W/idle.out" && return 0
		kill -0 "$IDLE_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "idle-conns did not open $1 connections:" >&2
	cat "$W/idle.err" >&2
	return 1
}

# trickle N: opens N connections that each send a request line and then
# one more header byte every 0.2 s, never ending the request, until
# $W/stop exists (or 60 s pass). Runs in the background; sets TRICKLE_PID.
trickle() {
	(
		trap '' PIPE
		fds=()
		for _ in $(seq 1 "$1"); do
			exec {fd}<>"/dev/tcp/127.0.0.1/$DIRD_PORT" || exit 1
			printf 'POST /message/create/ HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&"$fd"
			fds+=("$fd")
		done
		echo "${#fds[@]}" >"$W/trickling"
		for _ in $(seq 1 300); do
			[ -e "$W/stop" ] && break
			for fd in "${fds[@]}"; do
				{ printf 'a' >&"$fd"; } 2>/dev/null
			done
			sleep 0.2
		done
	) &
	TRICKLE_PID=$!
	echo "$TRICKLE_PID" >>"$W/pids"
	for _ in $(seq 1 200); do
		[ -s "$W/trickling" ] && return 0
		sleep 0.05
	done
	return 1
}

# timed PATH [CURL-ARGS...]: one request; appends its time in ms to
# $W/times and fails unless it is answered 2xx.
timed() {
	local path=$1 out
	shift
	out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$@" "$CHAT_SERVER$path")
	awk -v t="${out#* }" 'BEGIN { printf "%.1f\n", t * 1000 }' >>"$W/times"
	[[ "$out" == 2* ]] || { echo "$path: $out" >&2; return 1; }
}

@test "slowloris: 1,000 idle and 100 trickling connections; a normal request in under 100 ms" {
	fds 4096
	start_dird -q
	register alice
	register bob
	idle 1000 60
	trickle 100
	sleep 1 # the trickle is under way
	: >"$W/times"
	for i in $(seq 1 20); do
		timed /healthz
		timed "/peerinfo?username=alice"
		timed /message/create/ -H 'Content-Type: application/json' \
			--data-binary "{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"amid the slow ones $i\"}"
	done
	max=$(sort -n "$W/times" | tail -n 1)
	median=$(sort -n "$W/times" | sed -n 30p)
	echo "# 60 requests amid 1,100 slow connections: median $median ms, max $max ms" >&3
	awk -v m="$max" 'BEGIN { exit !(m < 100) }'
	# The slow ones are all still open: none was dropped to make room.
	kill -0 "$TRICKLE_PID"
	touch "$W/stop"
	wait "$TRICKLE_PID"
	TRICKLE_PID=
	kill "$IDLE_PID"
	figure "60 normal requests answered 2xx, max $max ms (median $median ms; bound 100 ms)"
}

@test "10,000 concurrent keep-alive connections: each answered, each kept open" {
	fds 12000
	start_dird -q --max-conns 10100
	idle 10000 3
	# With all 10,000 open, another client is answered at once.
	: >"$W/times"
	for _ in 1 2 3 4 5; do
		timed /healthz
	done
	max=$(sort -n "$W/times" | tail -n 1)
	rc=0
	wait "$IDLE_PID" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$W/idle.err" >&2; return 1; }
	jq -e '.type == "done" and .conns == 10000 and .closed_by_server == 0' <(tail -n 1 "$W/idle.out")
	kill -0 "$DIRD_PID"
	echo "# 10,000 connections answered 200 and held 3 s; a new client answered in $max ms" >&3
	figure "10000 of 10000 answered 200 and held open; 0 closed by the server; a new client answered in $max ms"
}

# start_listen OUT: chat-listen -u bob on 127.0.0.1, output to OUT.
start_listen() {
	: >"$1"
	chat-listen -u bob -a 127.0.0.1 >"$1" 2>"$W/listen.err" &
	LISTEN_PID=$!
	for _ in $(seq 1 100); do
		grep -q '"listening"' "$1" && return 0
		sleep 0.05
	done
	return 1
}

@test "1,000 concurrent senders to one chat-listen: every message delivered and printed once" {
	fds 4096
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	start_dird -q
	chat-register -u alice -p 1 >/dev/null
	out=$W/listen.out
	start_listen "$out"
	port=$(head -n 1 "$out" | jq -r .port)
	SECONDS=0
	# Each sender connects and says hello at once, then waits for its
	# line of input, which the gate holds back until all 1,000 are in.
	exec {gate}>"$W/gate"
	flock -x "$gate"
	pids=()
	for wave in $(seq 0 9); do
		for i in $(seq $((wave * 100 + 1)) $((wave * 100 + 100))); do
			flock -s "$W/gate" echo "message $i of 1000" |
				chat-send -u alice -t 30 bob >>"$W/send.out" 2>>"$W/send.err" &
			pids+=($!)
		done
		sleep 0.2
	done
	for _ in $(seq 1 600); do
		[ "$(grep -c '"type":"connect"' "$out")" -ge 1000 ] && break
		[ "$SECONDS" -lt 60 ] || break
		sleep 0.1
	done
	peak=$(ss -Htn state established "( sport = :$port )" | wc -l)
	connected=$(grep -c '"type":"connect"' "$out")
	flock -u "$gate"
	exec {gate}>&-
	failed=0
	for p in "${pids[@]}"; do
		wait "$p" || failed=$((failed + 1))
	done
	secs=$SECONDS
	[ "$failed" -eq 0 ] || { echo "$failed senders failed:" >&2; sort "$W/send.err" | uniq -c | head >&2; return 1; }
	[ "$(wc -l <"$W/send.out")" -eq 1000 ]
	[ "$(jq -s 'map(select(.delivered and .stored)) | length' "$W/send.out")" -eq 1000 ]
	for _ in $(seq 1 100); do
		[ "$(grep -c '"type":"message"' "$out")" -ge 1000 ] && break
		sleep 0.05
	done
	jq -r 'select(.type == "message") | .uid' "$out" | sort >"$W/printed"
	jq -r .uid "$W/send.out" | sort >"$W/sent"
	[ -z "$(uniq -d "$W/printed")" ]
	diff "$W/sent" "$W/printed"
	[ "$(jq -r 'select(.type == "message") | .text' "$out" | sort -u | wc -l)" -eq 1000 ]
	kill -0 "$LISTEN_PID"
	[ "$connected" -eq 1000 ]
	echo "# 1,000 senders in ${secs}s, $peak connected at once: 1000 delivered, printed once each" >&3
	figure "1000 of 1000 messages delivered and stored, each printed once; $peak connected at once; lost 0"
}
