#!/usr/bin/env bats
# chat-listen: it listens, registers, prints each message once and acks
# it, and answers every broken sender with an error and a close while it
# goes on serving the others.

bats_require_minimum_version 1.5.0

load helper

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	start_dird
	LISTEN_PID=
}

teardown() {
	if [ -n "$LISTEN_PID" ]; then
		kill "$LISTEN_PID" 2>/dev/null || true
		wait "$LISTEN_PID" 2>/dev/null || true
	fi
	stop_dird
}

# helper_of NAME: the pid of the listener's child program NAME, waiting
# up to 5 s for it.
helper_of() {
	local pid
	for _ in $(seq 1 100); do
		pid=$(pgrep -P "$LISTEN_PID" -x "$1") && { echo "$pid"; return 0; }
		sleep 0.05
	done
	echo "chat-listen $LISTEN_PID has no $1" >&2
	return 1
}

# gone PID: waits up to 5 s for the process to end.
gone() {
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "process $1 is still running" >&2
	return 1
}

# The tests that write wire v1 lines by hand give chat-listen --plaintext.
# start_listen NAME [ARGS...]: starts chat-listen -a 127.0.0.1, waits for
# its listening line; sets LISTEN_PID, LISTEN_PORT, LISTEN_OUT.
start_listen() {
	local name=$1
	shift
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen.out
	: >"$LISTEN_OUT"
	chat-listen -u "$name" -a 127.0.0.1 "$@" >"$LISTEN_OUT" \
		2>"$BATS_TEST_TMPDIR/listen.err" &
	LISTEN_PID=$!
	wait_for '"listening"' || return 1
	LISTEN_PORT=$(head -n 1 "$LISTEN_OUT" | jq -r .port)
}

# wait_for PATTERN: waits up to 5 s for a line of the listener's output.
wait_for() {
	for _ in $(seq 1 100); do
		grep -q -- "$1" "$LISTEN_OUT" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no $1 in:" >&2
	cat "$LISTEN_OUT" >&2
	return 1
}

# wire LINE...: connects to the listener, writes the lines, and prints
# the JSON lines it answers until it closes or half a second passes.
# (fd 3 belongs to bats.)
wire() {
	exec 8<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
	printf '%s\n' "$@" >&8 2>/dev/null
	timeout 0.5 cat <&8 2>/dev/null | grep '^{'
	exec 8>&-
}

HELLO='{"type":"hello","v":1,"from":"alice","to":"bob"}'
UID1=0123456789abcdef0123456789abcdef

@test "it prints the listening line first and registers itself" {
	start_listen bob
	head -n 1 "$LISTEN_OUT" | jq -e '.type == "listening" and .addr == "127.0.0.1" and .port > 0'
	run chat-peers bob
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e ".online == true and .port == $LISTEN_PORT"
}

@test "SIGTERM, SIGINT and SIGHUP log out and exit 0" {
	for sig in TERM INT HUP; do
		start_listen bob
		chat-peers bob | jq -e '.online == true'
		kill -"$sig" "$LISTEN_PID"
		rc=0
		wait "$LISTEN_PID" || rc=$?
		LISTEN_PID=
		[ "$rc" -eq 0 ] || { echo "SIG$sig: exit $rc" >&2; return 1; }
		run chat-peers bob
		printf '%s\n' "$output" | jq -e '.online == false'
	done
}

@test "CHAT_PORT picks the port; the heartbeat registers again" {
	# Below the kernel's ephemeral range, so no connection holds it;
	# another program might, so a few tries.
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 12000))
		CHAT_PORT=$port CHAT_HEARTBEAT=0.2 start_listen bob && break
		LISTEN_PID=
	done
	[ "$LISTEN_PORT" -eq "$port" ]
	first=$(chat-peers bob | jq -r .last_seen)
	sleep 0.6
	[ "$(chat-peers bob | jq -r .last_seen)" != "$first" ]
}

@test "a handshake and a message: hello back, one line printed, one ack" {
	start_listen bob --plaintext
	run wire "$HELLO" "{\"type\":\"msg\",\"uid\":\"$UID1\",\"text\":\"hi \\\"there\\\"\",\"ts\":\"2026-11-24T20:05:18.123Z\"}"
	[ "${lines[0]}" = '{"type":"hello","v":1,"from":"bob"}' ]
	[ "${lines[1]}" = "{\"type\":\"ack\",\"uid\":\"$UID1\"}" ]
	wait_for '"disconnect"'
	grep '"message"' "$LISTEN_OUT" | jq -e --arg u "$UID1" '.uid == $u and .from == "alice" and .to == "bob" and .text == "hi \"there\"" and .ts == "2026-11-24T20:05:18.123Z" and .offline == false and (has("id") | not)'
	grep -q '"type":"connect","from":"alice"' "$LISTEN_OUT"
}

@test "the same uid twice is printed once and acknowledged twice" {
	start_listen bob --plaintext
	m="{\"type\":\"msg\",\"uid\":\"$UID1\",\"text\":\"once\"}"
	run wire "$HELLO" "$m" "$m"
	[ "$(printf '%s\n' "$output" | grep -c '"ack"')" -eq 2 ]
	wait_for '"disconnect"'
	[ "$(grep -c '"message"' "$LISTEN_OUT")" -eq 1 ]
}

@test "a hello for someone else gets wrong_user and a close" {
	start_listen bob --plaintext
	run wire '{"type":"hello","v":1,"from":"alice","to":"carol"}'
	printf '%s\n' "$output" | jq -e 'select(.type == "error") | .code == "wrong_user"'
	run ! grep -q '"connect"' "$LISTEN_OUT"
}

@test "the user name in the hello is matched regardless of case" {
	start_listen bob --plaintext
	run wire '{"type":"hello","v":1,"from":"alice","to":"BOB"}'
	[ "${lines[0]}" = '{"type":"hello","v":1,"from":"bob"}' ]
}

@test "garbage, a missing handshake, a bad version: errors, and it goes on" {
	start_listen bob --plaintext
	run wire 'garbage'
	printf '%s\n' "$output" | jq -e '.code == "bad_handshake"'
	run wire "{\"type\":\"msg\",\"uid\":\"$UID1\",\"text\":\"x\"}"
	printf '%s\n' "$output" | jq -e '.code == "bad_handshake"'
	run wire '{"type":"hello","v":2,"from":"alice","to":"bob"}'
	printf '%s\n' "$output" | jq -e '.code == "version"'
	run wire "$HELLO" 'not json'
	printf '%s\n' "$output" | jq -e 'select(.type == "error") | .code == "bad_json"'
	run wire "$HELLO" '{"type":"msg","text":"no uid"}'
	printf '%s\n' "$output" | jq -e 'select(.type == "error") | .code == "bad_json"'
	run wire "$HELLO" '{"type":"what"}'
	printf '%s\n' "$output" | jq -e 'select(.type == "error") | .code == "bad_json"'
	# still serving
	run wire "$HELLO"
	[ "${lines[0]}" = '{"type":"hello","v":1,"from":"bob"}' ]
	kill -0 "$LISTEN_PID"
}

@test "a line over 256 KiB gets line_too_long; messages before it are printed" {
	start_listen bob --plaintext
	long=$(head -c 270000 /dev/zero | tr '\0' a)
	run wire "$HELLO" "{\"type\":\"msg\",\"uid\":\"$UID1\",\"text\":\"before\"}" "$long"
	printf '%s\n' "$output" | jq -e 'select(.type == "error") | .code == "line_too_long"'
	printf '%s\n' "$output" | grep -q '"ack"'
	wait_for '"before"'
}

@test "no hello in time: bad_handshake; idle too long: idle_timeout" {
	CHAT_HANDSHAKE_TIMEOUT=0.3 CHAT_IDLE_TIMEOUT=0.5 start_listen bob --plaintext
	exec 8<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
	run timeout 3 cat <&8
	exec 8>&-
	printf '%s\n' "$output" | jq -e '.code == "bad_handshake"'
	exec 8<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
	printf '%s\n' "$HELLO" >&8
	run timeout 3 cat <&8
	exec 8>&-
	printf '%s\n' "$output" | jq -e 'select(.type == "error") | .code == "idle_timeout"'
	wait_for '"reason":"idle_timeout"'
}

@test "past CHAT_MAX_CONNS a sender gets busy" {
	CHAT_MAX_CONNS=2 start_listen bob --plaintext
	exec 4<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
	exec 5<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
	sleep 0.2
	run wire "$HELLO"
	printf '%s\n' "$output" | jq -e '.code == "busy"'
	exec 4>&- 5>&-
	sleep 0.3
	run wire "$HELLO"
	[ "${lines[0]}" = '{"type":"hello","v":1,"from":"bob"}' ]
}

@test "a sender stuck mid-line does not hold up another" {
	start_listen bob --plaintext
	exec 4<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
	printf '%s\n{"type":"msg","uid":"half' "$HELLO" >&4
	run timeout 5 chat-send -u alice --direct "127.0.0.1:$LISTEN_PORT" --no-store bob quick
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.delivered == true'
	exec 4>&-
}

@test "on start it prints the inbox after its cursor, offline, once" {
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	api_as alice POST /message/create/ '{"sender":"alice","receiver":"bob","content":"while away","uid":"away-1"}'
	start_listen bob
	wait_for '"away-1"'
	grep '"away-1"' "$LISTEN_OUT" | jq -e '.offline == true and .id == 1 and .text == "while away" and .from == "alice"'
	kill "$LISTEN_PID"; wait "$LISTEN_PID" || true
	api_as alice POST /message/create/ '{"sender":"alice","receiver":"bob","content":"second","uid":"away-2"}'
	start_listen bob
	wait_for '"away-2"'
	run ! grep -q '"away-1"' "$LISTEN_OUT"
	[ "$(cat "$CHAT_HOME/listen/bob/cursor")" = 2 ]
}

@test "a catch-up of more than a page: every message once, in order, the cursor at the last" {
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	for b in 0 1 2 3 4; do
		api_as alice POST /message/create/ "$(jq -cn --argjson b "$b" '{messages:
			[range($b * 500 + 1; $b * 500 + 501) | {sender: "alice",
			receiver: "bob", content: "m\(.)", uid: "u\(.)"}]}')"
		expect 201
	done
	start_listen bob --no-register
	for _ in $(seq 1 200); do
		[ "$(cat "$CHAT_HOME/listen/bob/cursor" 2>/dev/null)" = 2500 ] && break
		sleep 0.05
	done
	[ "$(cat "$CHAT_HOME/listen/bob/cursor")" = 2500 ]
	[ "$(grep -c '"offline":true' "$LISTEN_OUT")" -eq 2500 ]
	jq -r 'select(.type == "message") | .id' "$LISTEN_OUT" >"$BATS_TEST_TMPDIR/ids"
	[ "$(cat "$BATS_TEST_TMPDIR/ids")" = "$(seq 1 2500)" ]
}

@test "a message whose line is long (64 KiB of control characters) is caught up whole" {
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	jq -cn '{sender: "alice", receiver: "bob", uid: "long-1",
		content: ([range(65536)] | map(1) | implode)}' >"$BATS_TEST_TMPDIR/long"
	api_as alice POST /message/create/ "@$BATS_TEST_TMPDIR/long"
	expect 201
	start_listen bob --no-register
	wait_for '"long-1"'
	grep '"long-1"' "$LISTEN_OUT" | jq -e '.text | length == 65536'
}

@test "--no-catch-up prints nothing from the inbox; --no-register stays offline" {
	chat-register -u bob -p 1 >/dev/null
	chat-register -u alice -p 1 >/dev/null
	chat-send -u alice bob --no-store hi >/dev/null 2>&1 || true
	api_as alice POST /message/create/ '{"sender":"alice","receiver":"bob","content":"x","uid":"away-1"}'
	api_as bob POST /logout '{"username":"bob"}'
	start_listen bob --no-catch-up --no-register
	sleep 0.3
	run ! grep -q '"message"' "$LISTEN_OUT"
	chat-peers bob | jq -e '.online == false'
}

@test "it links no libcurl: the directory is asked through chat-register and chat-history" {
	run readelf -d "$(command -v chat-listen)"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -q NEEDED
	run ! grep -E 'NEEDED.*(curl|ssl|crypto|gnutls)' <<<"$output"
}

@test "a message stored while it listens is printed at once, woken by the push channel" {
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	# No poll for 100000 s: only the directory's push can wake it.
	CHAT_POLL_SECONDS=100000 start_listen bob --no-register
	helper_of chat-history >/dev/null
	sleep 0.3	# its stream is open
	api_as alice POST /message/create/ '{"sender":"alice","receiver":"bob","content":"while here","uid":"here-1"}'
	expect 201
	# bounded, with room for a loaded machine: it comes in milliseconds
	for _ in $(seq 1 300); do
		grep -q '"here-1"' "$LISTEN_OUT" && break
		sleep 0.05
	done
	grep '"here-1"' "$LISTEN_OUT" | jq -e '.offline == true and .text == "while here" and .from == "alice"'
	for _ in $(seq 1 100); do
		[ "$(cat "$CHAT_HOME/listen/bob/cursor" 2>/dev/null)" = 1 ] && break
		sleep 0.05
	done
	[ "$(cat "$CHAT_HOME/listen/bob/cursor")" = 1 ]
	# The same uid again (a sender that stored it twice): printed once.
	api_as alice POST /message/create/ '{"sender":"alice","receiver":"bob","content":"while here","uid":"here-1"}'
	api_as alice POST /message/create/ '{"sender":"alice","receiver":"bob","content":"next","uid":"here-2"}'
	wait_for '"here-2"'
	[ "$(grep -c '"here-1"' "$LISTEN_OUT")" -eq 1 ]
}

@test "between heartbeats only the inbox follower runs beside it; SIGTERM logs it out" {
	start_listen bob
	chat-peers bob | jq -e '.online == true'
	sleep 0.3
	# The heartbeat's chat-register registered and ended: one child, the
	# chat-history -f that follows the inbox.
	helper_of chat-history >/dev/null
	[ "$(pgrep -P "$LISTEN_PID" | wc -l)" -eq 1 ]
	kill "$LISTEN_PID"
	wait "$LISTEN_PID"
	LISTEN_PID=
	chat-peers bob | jq -e '.online == false'
	[ ! -s "$BATS_TEST_TMPDIR/listen.err" ]
}

@test "SIGTERM to its whole process group, as Ctrl-C or systemd send it: logged out, quietly" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen.out
	# A heartbeat every 5 ms, eight times: the signal often ends a
	# chat-register the listener reaps before it takes its own signal,
	# which is no failure to report.
	for _ in 1 2 3 4 5 6 7 8; do
		: >"$LISTEN_OUT"
		CHAT_HEARTBEAT=0.005 setsid chat-listen -u bob -a 127.0.0.1 \
			>"$LISTEN_OUT" 2>"$BATS_TEST_TMPDIR/listen.err" &
		LISTEN_PID=$!
		wait_for '"listening"'
		sleep 0.2	# heartbeats under way, one may be running now
		kill -TERM -- "-$LISTEN_PID"
		wait "$LISTEN_PID"
		LISTEN_PID=
		chat-peers bob | jq -e '.online == false'
		cat "$BATS_TEST_TMPDIR/listen.err"
		[ ! -s "$BATS_TEST_TMPDIR/listen.err" ]
	done
}

@test "killed with SIGKILL, it leaves no chat-register behind; the directory's presence window ends it" {
	stop_dird
	start_dird --presence 1
	CHAT_HEARTBEAT=0.05 start_listen bob
	sleep 0.3
	kill -KILL "$LISTEN_PID"
	wait "$LISTEN_PID" || true
	port=$LISTEN_PORT
	LISTEN_PID=
	sleep 0.3
	run ! pgrep -f "chat-register -u bob -p $port " >/dev/null
	sleep 1.2
	# Its inbox follower got SIGTERM as its parent died, and ended.
	for _ in $(seq 1 60); do
		pgrep -f "chat-history -u bob -f " >/dev/null || break
		sleep 0.05
	done
	run ! pgrep -f "chat-history -u bob -f " >/dev/null
	chat-peers bob | jq -e '.online == false'
}

@test "a directory down at the start: it listens and serves at once, registers once it is back" {
	port=$DIRD_PORT
	stop_dird
	CHAT_HEARTBEAT=0.2 start_listen bob --plaintext
	run wire "$HELLO"
	[ "${lines[0]}" = '{"type":"hello","v":1,"from":"bob"}' ]
	grep -q '^chat-register: ' "$BATS_TEST_TMPDIR/listen.err"
	grep -q '^chat-listen: registering: .*trying again every 0.2 s' "$BATS_TEST_TMPDIR/listen.err"
	grep -q '^chat-listen: catching up: ' "$BATS_TEST_TMPDIR/listen.err"
	sleep 0.5
	# said once, however many tries
	[ "$(grep -c '^chat-register: ' "$BATS_TEST_TMPDIR/listen.err")" -eq 1 ]
	[ "$(grep -c '^chat-listen: registering: ' "$BATS_TEST_TMPDIR/listen.err")" -eq 1 ]
	start_dird -l "127.0.0.1:$port"
	for _ in $(seq 1 100); do
		chat-peers bob 2>/dev/null | jq -e '.online' >/dev/null && break
		sleep 0.05
	done
	chat-peers bob | jq -e ".online == true and .port == $LISTEN_PORT"
	kill "$LISTEN_PID"
	wait "$LISTEN_PID"
	LISTEN_PID=
	chat-peers bob | jq -e '.online == false'
}

@test "SIGTERM during a slow catch-up stops it at once; chat-history is reaped" {
	# The directory, paused, takes connections and never answers.
	kill -STOP "$DIRD_PID"
	start_listen bob --no-register
	hist=$(helper_of chat-history)
	start=$(date +%s%N)
	kill "$LISTEN_PID"
	wait "$LISTEN_PID"
	LISTEN_PID=
	[ $((($(date +%s%N) - start) / 1000000)) -lt 2000 ]
	gone "$hist"
}

@test "without chat-register and chat-history it says so and serves all the same" {
	mkdir "$BATS_TEST_TMPDIR/alone"
	cp "$(command -v chat-listen)" "$BATS_TEST_TMPDIR/alone/"
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen.out
	PATH=/usr/bin:/bin "$BATS_TEST_TMPDIR/alone/chat-listen" -u bob \
		-a 127.0.0.1 >"$LISTEN_OUT" 2>"$BATS_TEST_TMPDIR/listen.err" &
	LISTEN_PID=$!
	wait_for '"listening"'
	LISTEN_PORT=$(head -n 1 "$LISTEN_OUT" | jq -r .port)
	grep -q '^chat-listen: chat-register: not found' "$BATS_TEST_TMPDIR/listen.err"
	grep -q '^chat-listen: chat-history: not found' "$BATS_TEST_TMPDIR/listen.err"
	run timeout 5 chat-send -u alice --direct "127.0.0.1:$LISTEN_PORT" --no-store bob hi
	[ "$status" -eq 0 ]
	wait_for '"text":"hi"'
	kill "$LISTEN_PID"
	wait "$LISTEN_PID"
	LISTEN_PID=
}

@test "a bad CHAT_SERVER or CHAT_TIMEOUT is a usage error, before listening" {
	CHAT_SERVER=ftp://x run chat-listen -u bob
	[ "$status" -eq 64 ]
	run chat-listen -u bob -s 'http://[::1'
	[ "$status" -eq 64 ]
	CHAT_TIMEOUT=soon run chat-listen -u bob
	[ "$status" -eq 64 ]
}

@test "usage errors exit 64; --help and --version exit 0" {
	run chat-listen
	[ "$status" -eq 64 ]
	run chat-listen -u 'bad name'
	[ "$status" -eq 64 ]
	run chat-listen -u bob -p 70000
	[ "$status" -eq 64 ]
	run chat-listen -u bob extra
	[ "$status" -eq 64 ]
	run chat-listen --help
	[ "$status" -eq 0 ]
	[[ $output == usage:* ]]
	run chat-listen --version
	[ "$status" -eq 0 ]
}

@test "its heartbeat registers the public address STUN saw its own port come from; its port stays its own" {
	stun=$(jq -r .stun_port "$DIRD_OUT")
	CHAT_STUN=127.0.0.1:$stun start_listen bob
	curl -s "$CHAT_SERVER/peerinfo?username=bob" | jq -e --argjson p "$LISTEN_PORT" '[.candidates[] | select(.type == "srflx")] ==
		[{"ip": "127.0.0.1", "port": $p, "type": "srflx"}]'
	# the port is shared with its own queries only: a second listener
	# on it is refused, as before
	run --separate-stderr timeout 5 chat-listen -u carol -a 127.0.0.1 -p "$LISTEN_PORT" --no-register
	[ "$status" -ne 0 ]
	printf '%s\n' "$stderr" | grep -q 'Address already in use'
	# and it still serves
	chat-register -u alice -p 1 >/dev/null
	chat-send -u alice bob "still mine" | jq -e '.delivered == true'
	wait_for '"still mine"'
}
