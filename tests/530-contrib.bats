#!/usr/bin/env bats
# The contrib scripts do their jobs against the real programs:
# chat-logwatch sends a log's new errors, once each; chat-pingbot answers
# ping with pong and nothing else.

load helper
bats_require_minimum_version 1.5.0

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	unset CHAT_USER CHAT_PORT
	BG_PGID=
	start_dird
	chat-register -u alerts -p 1 >/dev/null
	chat-register -u alice -p 1 >/dev/null
	LOG=$BATS_TEST_TMPDIR/app.log
}

teardown() {
	if [ -n "$BG_PGID" ]; then
		kill -TERM -- "-$BG_PGID" 2>/dev/null || true
		wait "$BG_PGID" 2>/dev/null || true
	fi
	stop_dird
}

# texts FROM TO: the texts FROM sent TO, one a line.
texts() {
	chat-history -u "$2" "$1" | jq -r --arg f "$1" 'select(.from == $f) | .text'
}

# wait_texts FROM TO COUNT: waits up to 8 s for COUNT messages.
wait_texts() {
	for _ in $(seq 1 160); do
		[ "$(texts "$1" "$2" | wc -l)" -ge "$3" ] && return 0
		sleep 0.05
	done
	echo "not $3 messages from $1 to $2:" >&2
	texts "$1" "$2" >&2
	return 1
}

@test "chat-logwatch, from cron: each run sends the errors written since the last" {
	lw=$ROOT/contrib/chat-logwatch
	echo "old error, before the first run" >"$LOG"
	run --separate-stderr "$lw" -u alerts alice "$LOG"
	[ "$status" -eq 0 ]
	[ -z "$(texts alerts alice)" ]

	printf '%s\n' "INFO started" "ERROR disk full" "WARN slow" "fatal: no memory" >>"$LOG"
	run --separate-stderr "$lw" -u alerts alice "$LOG"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(texts alerts alice)" = "ERROR disk full
fatal: no memory" ]

	# nothing new: nothing sent; a line still being written waits
	run "$lw" -u alerts alice "$LOG"
	[ "$status" -eq 0 ]
	printf 'ERROR half a li' >>"$LOG"
	CHAT_USER=alerts run "$lw" alice "$LOG"
	[ "$(texts alerts alice | wc -l)" -eq 2 ]
	printf 'ne\n' >>"$LOG"
	CHAT_USER=alerts run "$lw" -e 'half' alice "$LOG"
	[ "$(texts alerts alice | tail -n 1)" = "ERROR half a line" ]

	# rotated: read from its start
	echo "error after rotation" >"$LOG"
	run "$lw" -u alerts alice "$LOG"
	[ "$status" -eq 0 ]
	[ "$(texts alerts alice | tail -n 1)" = "error after rotation" ]
	[ "$(texts alerts alice | wc -l)" -eq 4 ]
}

@test "chat-logwatch: a run that cannot send sends at the next; usage errors" {
	lw=$ROOT/contrib/chat-logwatch
	: >"$LOG"
	"$lw" -u alerts alice "$LOG"
	echo "ERROR one" >>"$LOG"
	good=$CHAT_SERVER
	CHAT_SERVER=http://127.0.0.1:1 run --separate-stderr "$lw" -u alerts alice "$LOG"
	[ "$status" -eq 69 ]
	CHAT_SERVER=$good run "$lw" -u alerts alice "$LOG"
	[ "$status" -eq 0 ]
	[ "$(texts alerts alice)" = "ERROR one" ]
	run "$lw" -u alerts alice
	[ "$status" -eq 64 ]
	run "$lw" alice "$LOG"
	[ "$status" -eq 64 ]
	run "$lw" -u alerts alice "$BATS_TEST_TMPDIR/missing.log"
	[ "$status" -eq 66 ]
}

@test "chat-logwatch -f follows the file and sends each error as it is written" {
	: >"$LOG"
	setsid "$ROOT/contrib/chat-logwatch" -f -u alerts alice "$LOG" \
		2>"$BATS_TEST_TMPDIR/lw.err" &
	BG_PGID=$!
	# It sends what is written from now on: wait until it has the file.
	for _ in $(seq 1 160); do
		for pid in $(pgrep -g "$BG_PGID"); do
			for fd in "/proc/$pid/fd/"*; do
				[ "$(readlink "$fd" 2>/dev/null)" = "$LOG" ] && break 3
			done
		done
		sleep 0.05
	done
	printf '%s\n' "INFO fine" "ERROR one" >>"$LOG"
	wait_texts alerts alice 1
	echo "Error two" >>"$LOG"
	wait_texts alerts alice 2
	[ "$(texts alerts alice)" = "ERROR one
Error two" ]
}

@test "chat-pingbot answers ping with pong, and nothing else" {
	CHAT_USER=pingbot setsid "$ROOT/contrib/chat-pingbot" \
		>/dev/null 2>"$BATS_TEST_TMPDIR/bot.err" &
	BG_PGID=$!
	for _ in $(seq 1 160); do
		chat-peers --online pingbot >/dev/null 2>&1 && break
		sleep 0.05
	done
	chat-peers --online pingbot | jq -e '.online'
	chat-send -u alice pingbot hello | jq -e '.delivered'
	chat-send -u alice pingbot ' PING ' | jq -e '.delivered'
	# The bot reads in order: by its pong, it has passed over hello.
	wait_texts pingbot alice 1
	[ "$(texts pingbot alice | wc -l)" -eq 1 ]
	texts pingbot alice | grep -qE '^pong [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'
	# stopped as systemd or Ctrl-C stops it: it logs out. The shell may
	# exit before chat-listen has; like systemd, wait for the whole group.
	kill -TERM -- "-$BG_PGID"
	wait "$BG_PGID" || true
	for _ in $(seq 1 200); do
		pgrep -g "$BG_PGID" >/dev/null || break
		sleep 0.05
	done
	[ -z "$(pgrep -g "$BG_PGID")" ]
	BG_PGID=
	chat-peers pingbot | jq -e '.online == false'
}

@test "the contrib scripts are executable and say how to run them" {
	for f in "$ROOT"/contrib/chat-logwatch "$ROOT"/contrib/chat-pingbot; do
		[ -x "$f" ]
		grep -q 'cron' "$f"
		grep -q 'systemd' "$f"
		grep -q 'ExecStart=' "$f"
	done
}
