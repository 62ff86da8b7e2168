#!/usr/bin/env bats
# chat-send: looks the peer up, delivers directly (pipelined), stores every
# message, reports one status line each, and exits as the contract says.

load helper
bats_require_minimum_version 1.5.0

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	start_dird
	LISTEN_PID=
	chat-register -u alice -p 1 >/dev/null
}

teardown() {
	# a chat-send a failed test left waiting for its input
	if [ -n "${SEND_PID:-}" ]; then
		kill "$SEND_PID" 2>/dev/null || true
		wait "$SEND_PID" 2>/dev/null || true
	fi
	if [ -n "$LISTEN_PID" ]; then
		kill "$LISTEN_PID" 2>/dev/null || true
		wait "$LISTEN_PID" 2>/dev/null || true
	fi
	stop_dird
}

start_listen() {
	local name=$1
	shift
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen-$name.out
	: >"$LISTEN_OUT"
	chat-listen -u "$name" -a 127.0.0.1 "$@" >"$LISTEN_OUT" \
		2>"$BATS_TEST_TMPDIR/listen-$name.err" &
	LISTEN_PID=$!
	wait_in "$LISTEN_OUT" '"listening"' || return 1
	LISTEN_PORT=$(head -n 1 "$LISTEN_OUT" | jq -r .port)
}

# wait_in FILE PATTERN: waits up to 5 s for a line.
wait_in() {
	for _ in $(seq 1 100); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no $2 in $1:" >&2
	cat "$1" >&2
	return 1
}

@test "TEXT words are one message: delivered, stored, exit 0" {
	start_listen bob
	run --separate-stderr chat-send -u alice bob hello there
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	uid=$(printf '%s\n' "$output" | jq -r .uid)
	printf '%s\n' "$output" | jq -e '.to == "bob" and .delivered == true and .stored == true and (.id | type) == "number" and (.uid | test("^[0-9a-f]{32}$"))'
	wait_in "$LISTEN_OUT" "$uid"
	grep "$uid" "$LISTEN_OUT" | jq -e '.text == "hello there" and .from == "alice"'
	# Stored sealed (tests/470-sealed.bats): read back opened.
	run --separate-stderr chat-history -u alice bob
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e ".uid == \"$uid\" and .text == \"hello there\" and .sealed"
}

@test "stdin: one message a line, in order, empty lines skipped" {
	start_listen bob
	run --separate-stderr bash -c 'seq 1 300 | sed "150a\\\\" | chat-send -u alice bob'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 300 ]
	[ "$(printf '%s\n' "$output" | jq -s 'all(.delivered and .stored)')" = true ]
	wait_in "$LISTEN_OUT" '"text":"300"'
	[ "$(jq -r 'select(.type == "message") | .text' "$LISTEN_OUT" | tr '\n' ' ')" = "$(seq 1 300 | tr '\n' ' ')" ]
}

@test "stdin is read as it comes: a status line before the input ends" {
	start_listen bob
	mkfifo "$BATS_TEST_TMPDIR/in"
	out=$BATS_TEST_TMPDIR/send.out
	chat-send -u alice bob <"$BATS_TEST_TMPDIR/in" >"$out" 2>/dev/null &
	pid=$!
	exec 7>"$BATS_TEST_TMPDIR/in"
	echo first >&7
	wait_in "$out" '"delivered":true'
	wait_in "$LISTEN_OUT" '"text":"first"'
	echo second >&7
	exec 7>&-
	wait "$pid"
	[ "$(wc -l <"$out")" -eq 2 ]
}

@test "--json: text and uid from objects; a bad line is skipped, exit 65" {
	start_listen bob
	run --separate-stderr chat-send -u alice --json bob <<-'EOF'
	{"text":"one","uid":"json-uid-1"}
	not json
	{"text":"two\nlines"}
	EOF
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 2 ]
	printf '%s\n' "${lines[0]}" | jq -e '.uid == "json-uid-1" and .delivered'
	[[ $stderr == *"line 2"* ]]
	wait_in "$LISTEN_OUT" 'two\\nlines'
}

@test "a peer that is offline: stored only, delivered false, exit 0" {
	chat-register -u bob -p 1 >/dev/null
	api_as bob POST /logout '{"username":"bob"}'
	run --separate-stderr chat-send -u alice bob later
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.delivered == false and .stored == true'
	[[ $stderr == *offline* ]]
}

@test "a peer registered but unreachable: stored only, exit 0" {
	chat-register -u bob -a 127.0.0.1 -p 1 >/dev/null
	run --separate-stderr chat-send -u alice -t 1 bob x
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.delivered == false and .stored == true'
}

@test "--no-store to an offline peer: neither, exit 69" {
	chat-register -u bob -p 1 >/dev/null
	api_as bob POST /logout '{"username":"bob"}'
	run --separate-stderr chat-send -u alice --no-store bob x
	[ "$status" -eq 69 ]
	printf '%s\n' "$output" | jq -e '.delivered == false and .stored == false'
}

@test "an unknown peer exits 67" {
	run --separate-stderr chat-send -u alice nobody x
	[ "$status" -eq 67 ]
	[ -z "$output" ]
}

@test "sending to someone not yet a friend adds them" {
	start_listen bob
	chat-send -u alice bob hi >/dev/null
	api_as alice GET '/friend/get/?username=alice'
	expect 200 '[.friends[].username] == ["bob"]'
}

@test "--direct to a listener of another user: wrong_user, stored only" {
	chat-register -u bob -p 1 >/dev/null
	start_listen carol
	run --separate-stderr chat-send -u alice --direct "127.0.0.1:$LISTEN_PORT" bob x
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.delivered == false and .stored == true'
	[[ $stderr == *wrong_user* ]]
	run ! grep -q '"message"' "$LISTEN_OUT"
}

@test "many senders at once: every message printed once, in order per sender" {
	start_listen bob
	pids=()
	for i in $(seq 1 20); do
		chat-register -u "s$i" -p 1 >/dev/null
		seq 1 50 | sed "s/^/s$i-/" |
			chat-send -u "s$i" bob >"$BATS_TEST_TMPDIR/s$i.out" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	for _ in $(seq 1 100); do
		[ "$(grep -c '"message"' "$LISTEN_OUT")" -ge 1000 ] && break
		sleep 0.05
	done
	[ "$(jq -r 'select(.type == "message") | .uid' "$LISTEN_OUT" | sort -u | wc -l)" -eq 1000 ]
	for i in $(seq 1 20); do
		[ "$(jq -r "select(.type == \"message\" and .from == \"s$i\") | .text" "$LISTEN_OUT" | tr '\n' ' ')" = "$(seq 1 50 | sed "s/^/s$i-/" | tr '\n' ' ')" ]
	done
}

@test "usage errors exit 64; bad input text exits 65" {
	run chat-send
	[ "$status" -eq 64 ]
	run chat-send -u alice
	[ "$status" -eq 64 ]
	run chat-send -u alice 'bad name' x
	[ "$status" -eq 64 ]
	run chat-send -u alice --direct nowhere bob x
	[ "$status" -eq 64 ]
	run chat-send -u alice -t 0 bob x
	[ "$status" -eq 64 ]
	run chat-send -u alice --json bob text
	[ "$status" -eq 64 ]
	run chat-send -u alice bob "$(printf 'bad \xff')"
	[ "$status" -eq 65 ]
	run chat-send --help
	[ "$status" -eq 0 ]
	run chat-send --version
	[ "$status" -eq 0 ]
}

@test "the peer leaves with nothing unacknowledged: the end of input ends chat-send at once" {
	start_listen bob --no-catch-up
	fifo=$BATS_TEST_TMPDIR/in
	mkfifo "$fifo"
	chat-send -u alice -t 10 --direct "127.0.0.1:$LISTEN_PORT" bob <"$fifo" \
		>"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err" &
	SEND_PID=$!
	exec 7>"$fifo"
	echo one >&7
	wait_in "$BATS_TEST_TMPDIR/send.out" '"delivered":true'
	# bob leaves for good while the input stays open
	kill "$LISTEN_PID"
	wait "$LISTEN_PID" || true
	LISTEN_PID=
	wait_in "$BATS_TEST_TMPDIR/send.err" 'closed the connection'
	start=$(date +%s%N)
	exec 7>&-
	rc=0
	wait "$SEND_PID" || rc=$?
	elapsed=$((($(date +%s%N) - start) / 1000000))
	[ "$rc" -eq 0 ]
	# not after its 10 s timeout, trying to reach bob for nothing
	[ "$elapsed" -lt 3000 ] || { echo "took $elapsed ms" >&2; return 1; }
}

@test "the peer leaves between messages: the next message connects again" {
	start_listen bob --no-catch-up
	port=$LISTEN_PORT
	fifo=$BATS_TEST_TMPDIR/in
	mkfifo "$fifo"
	chat-send -u alice -t 10 --direct "127.0.0.1:$port" bob <"$fifo" \
		>"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err" &
	SEND_PID=$!
	exec 7>"$fifo"
	echo one >&7
	wait_in "$BATS_TEST_TMPDIR/send.out" '"delivered":true'
	kill "$LISTEN_PID"
	wait "$LISTEN_PID" || true
	LISTEN_PID=
	wait_in "$BATS_TEST_TMPDIR/send.err" 'closed the connection'
	# (without the input's write end, or the input would never end)
	start_listen bob -p "$port" --no-catch-up 7>&-
	echo two >&7
	wait_in "$LISTEN_OUT" '"two"'
	exec 7>&-
	wait "$SEND_PID"
	[ "$(jq -s 'map(select(.delivered)) | length' "$BATS_TEST_TMPDIR/send.out")" -eq 2 ]
}

# The create requests chat-dird logged; those it refused as too large.
creates() {
	jq -s 'map(select(.event == "request" and
		(.path | startswith("/message/create")))) | length' "$DIRD_LOG"
}
refused() {
	jq -s 'map(select(.event == "request" and .status == 413)) | length' \
		"$DIRD_LOG"
}

@test "long lines come stored in a few batches, each under the directory's body limit" {
	chat-register -u bob -p 1 >/dev/null
	api_as bob POST /logout '{"username":"bob"}'
	awk 'BEGIN { for (i = 0; i < 1000; i++) printf "%03000d\n", i }' \
		>"$BATS_TEST_TMPDIR/in"
	run --separate-stderr chat-send -u alice bob <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -s 'map(select(.stored)) | length')" -eq 1000 ]
	chat-history -u alice bob >"$BATS_TEST_TMPDIR/out"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 1000 ]
	[ "$(sed -n 1000p "$BATS_TEST_TMPDIR/out" | jq -r .text)" = "$(sed -n 1000p "$BATS_TEST_TMPDIR/in")" ]
	# 3 MB in requests of at most about 900 KiB: a handful, no 413.
	[ "$(refused)" -eq 0 ]
	[ "$(creates)" -lt 50 ]
}

@test "a batch the directory refuses as too large is split until it fits" {
	stop_dird
	start_dird --max-body 65536
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	api_as bob POST /logout '{"username":"bob"}'
	awk 'BEGIN { for (i = 0; i < 300; i++) printf "%02000d\n", i }' \
		>"$BATS_TEST_TMPDIR/in"
	run --separate-stderr chat-send -u alice bob <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -s 'map(select(.stored and .id > 0)) | length')" -eq 300 ]
	[ "$(chat-history -u alice bob | jq -s '[.[].text | tonumber] == [range(300)]')" = true ]
	# Some were refused (413) and split; far fewer requests than one a message.
	[ "$(refused)" -gt 0 ]
	[ "$(creates)" -lt 150 ]
}

@test "a batch made ready ahead, then refused as too large, is split as well" {
	stop_dird
	start_dird --max-body 65536
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	api_as bob POST /logout '{"username":"bob"}'
	# 200 sealed messages of 2000 bytes: about 560 KB, one request made
	# ready while sealing, which this directory refuses
	awk 'BEGIN { for (i = 0; i < 200; i++) printf "%02000d\n", i }' \
		>"$BATS_TEST_TMPDIR/in"
	run --separate-stderr chat-send -u alice bob <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -s 'map(select(.stored and .id > 0)) | length')" -eq 200 ]
	[ "$(chat-history -u alice bob | jq -s '[.[].text | tonumber] == [range(200)]')" = true ]
	[ "$(refused)" -gt 0 ]
	# halves of halves: a few dozen requests, not one a message
	[ "$(creates)" -lt 60 ]
}
