#!/usr/bin/env bats
# Nothing lost: whatever chat-send reports as accepted reaches the
# listener, directly or from its inbox on its next start, in order per
# sender and once, but for the one-write window of chat-listen(1).

load helper
bats_require_minimum_version 1.5.0

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	start_dird
	LISTEN_PID=
	chat-register -u alice -p 1 >/dev/null
}

teardown() {
	if [ -n "$LISTEN_PID" ]; then
		kill "$LISTEN_PID" 2>/dev/null || true
		wait "$LISTEN_PID" 2>/dev/null || true
	fi
	stop_dird
}

# start_listen OUT [ARGS...]: chat-listen -u bob, output to OUT.
start_listen() {
	local out=$1
	shift
	: >"$out"
	chat-listen -u bob -a 127.0.0.1 "$@" >"$out" 2>>"$BATS_TEST_TMPDIR/listen.err" &
	LISTEN_PID=$!
	wait_count "$out" '"listening"' 1 || return 1
	LISTEN_PORT=$(head -n 1 "$out" | jq -r .port)
}

# wait_count FILE PATTERN N: waits up to 20 s for N lines matching.
wait_count() {
	for _ in $(seq 1 400); do
		[ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.05
	done
	echo "fewer than $3 of $2 in $1" >&2
	return 1
}

# slow N: the lines m1..mN, a pause every 250 of them.
slow() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) { print "m" i
		if (i % 250 == 0) { fflush(); system("sleep 0.02") } } }'
}

@test "listener killed in a 10,000-message stream: all there, in order, once" {
	run1=$BATS_TEST_TMPDIR/run1.out run2=$BATS_TEST_TMPDIR/run2.out
	start_listen "$run1"
	slow 10000 | chat-send -u alice -t 2 bob >"$BATS_TEST_TMPDIR/send.out" \
		2>"$BATS_TEST_TMPDIR/send.err" &
	send=$!
	wait_count "$run1" '"message"' 3000
	kill -KILL "$LISTEN_PID"
	wait "$LISTEN_PID" || true
	LISTEN_PID=
	rc=0
	wait "$send" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/send.out")" -eq 10000 ]
	[ "$(jq -s 'all(.stored)' "$BATS_TEST_TMPDIR/send.out")" = true ]
	jq -s -e 'any(.delivered | not)' "$BATS_TEST_TMPDIR/send.out"

	start_listen "$run2"
	printed=$(grep -c '"message"' "$run1")
	# what run1 printed and was not yet recorded may come again
	wait_count "$run2" '"offline":true' $((10000 - printed))
	sleep 0.5
	jq -r 'select(.type == "message") | .uid' "$run1" >"$BATS_TEST_TMPDIR/u1"
	jq -r 'select(.type == "message") | .uid' "$run2" >"$BATS_TEST_TMPDIR/u2"
	jq -r .uid "$BATS_TEST_TMPDIR/send.out" >"$BATS_TEST_TMPDIR/sent"
	# every message, each run printing none twice
	[ "$(sort -u "$BATS_TEST_TMPDIR/u1" | wc -l)" -eq "$(wc -l <"$BATS_TEST_TMPDIR/u1")" ]
	[ "$(sort -u "$BATS_TEST_TMPDIR/u2" | wc -l)" -eq "$(wc -l <"$BATS_TEST_TMPDIR/u2")" ]
	[ "$(cat "$BATS_TEST_TMPDIR/u1" "$BATS_TEST_TMPDIR/u2" | sort -u)" = "$(sort -u "$BATS_TEST_TMPDIR/sent")" ]
	# the second run is all offline
	[ "$(jq -s '[.[] | select(.type == "message")] | all(.offline)' "$run2")" = true ]
	# duplicates: only the last messages run1 printed, one write's worth
	dups=$(sort "$BATS_TEST_TMPDIR/u1" "$BATS_TEST_TMPDIR/u2" | uniq -d | wc -l)
	echo "duplicates: $dups" >&3
	[ "$dups" -le 1000 ]
	[ "$(head -n "$dups" "$BATS_TEST_TMPDIR/u2")" = "$(tail -n "$dups" "$BATS_TEST_TMPDIR/u1")" ] || [ "$dups" -eq 0 ]
	# in order: run1 then what run2 added is exactly the order sent
	[ "$(cat "$BATS_TEST_TMPDIR/u1" <(tail -n +$((dups + 1)) "$BATS_TEST_TMPDIR/u2"))" = "$(cat "$BATS_TEST_TMPDIR/sent")" ]
}

@test "printed, then restarted before any catch-up: the inbox copy is not printed again" {
	run1=$BATS_TEST_TMPDIR/run1.out run2=$BATS_TEST_TMPDIR/run2.out
	# No catch-up and no inbox follower: only the seen file remembers m1.
	start_listen "$run1" --no-catch-up
	chat-send -u alice bob m1 | jq -e '.delivered and .stored'
	wait_count "$run1" '"m1"' 1
	kill "$LISTEN_PID"
	wait "$LISTEN_PID" || true
	LISTEN_PID=
	# stored while nobody listens: catch-up prints it after m1's place
	chat-send -u alice bob m2 | jq -e '(.delivered | not) and .stored'
	start_listen "$run2"
	wait_count "$run2" '"m2"' 1
	[ "$(grep -c '"m1"' "$run2")" -eq 0 ]
}

@test "sender killed midway: what it reported is there" {
	out=$BATS_TEST_TMPDIR/listen.out
	start_listen "$out"
	slow 10000 | chat-send -u alice bob >"$BATS_TEST_TMPDIR/send.out" 2>/dev/null &
	send=$!
	wait_count "$BATS_TEST_TMPDIR/send.out" '"uid"' 2000
	kill -KILL "$send"
	wait "$send" || true
	sleep 0.3
	grep '"delivered":true' "$BATS_TEST_TMPDIR/send.out" | jq -r .uid | sort >"$BATS_TEST_TMPDIR/delivered"
	jq -r 'select(.type == "message") | .uid' "$out" | sort >"$BATS_TEST_TMPDIR/printed"
	[ -z "$(comm -23 "$BATS_TEST_TMPDIR/delivered" "$BATS_TEST_TMPDIR/printed")" ]
	grep '"stored":true' "$BATS_TEST_TMPDIR/send.out" | jq -r .uid | sort >"$BATS_TEST_TMPDIR/stored"
	api_as bob GET '/message/inbox/?username=bob'
	expect 200
	jq -r '.messages[].uid' <<<"$body" | sort >"$BATS_TEST_TMPDIR/inbox"
	[ -z "$(comm -23 "$BATS_TEST_TMPDIR/stored" "$BATS_TEST_TMPDIR/inbox")" ]
}

@test "directory down: direct delivery works, stored false; nowhere to go: exit 69" {
	out=$BATS_TEST_TMPDIR/listen.out
	start_listen "$out" --no-register
	stop_dird
	run --separate-stderr chat-send -u alice --direct "127.0.0.1:$LISTEN_PORT" bob still here
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.delivered == true and .stored == false'
	wait_count "$out" '"still here"' 1
	kill "$LISTEN_PID"
	wait "$LISTEN_PID" || true
	LISTEN_PID=
	run --separate-stderr chat-send -u alice --direct "127.0.0.1:$LISTEN_PORT" bob lost
	[ "$status" -eq 69 ]
	printf '%s\n' "$output" | jq -e '.delivered == false and .stored == false'
}

@test "directory down: a stream says the storing failure once, not per batch" {
	out=$BATS_TEST_TMPDIR/listen.out
	start_listen "$out" --no-register
	stop_dird
	# Paced, so that storing is tried batch after batch.
	for i in $(seq 1 20); do
		echo "m$i"
		sleep 0.05
	done | chat-send -u alice --direct "127.0.0.1:$LISTEN_PORT" bob \
		>"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err"
	[ "$(jq -s 'map(select(.delivered and (.stored | not))) | length' \
		"$BATS_TEST_TMPDIR/send.out")" -eq 20 ]
	cat "$BATS_TEST_TMPDIR/send.err" >&2
	[ "$(grep -c 'storing:' "$BATS_TEST_TMPDIR/send.err")" -eq 1 ]
}

@test "a dropped connection: the sender connects once more and goes on" {
	# below the kernel's ephemeral range, where no connection holds it
	port=$((20000 + RANDOM % 12000))
	out=$BATS_TEST_TMPDIR/run1.out
	start_listen "$out" -p "$port" --no-catch-up
	slow 4000 | chat-send -u alice -t 3 --direct "127.0.0.1:$port" bob \
		>"$BATS_TEST_TMPDIR/send.out" 2>/dev/null &
	send=$!
	wait_count "$out" '"message"' 500
	kill -KILL "$LISTEN_PID"
	wait "$LISTEN_PID" || true
	start_listen "$BATS_TEST_TMPDIR/run2.out" -p "$port" --no-catch-up
	wait_pid "$send" 30
	[ "$wait_rc" -eq 0 ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/send.out")" -eq 4000 ]
	tail -n 1 "$BATS_TEST_TMPDIR/send.out" | jq -e '.delivered == true'
	[ "$(jq -s 'all(.delivered)' "$BATS_TEST_TMPDIR/send.out")" = true ]
}
