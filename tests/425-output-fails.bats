#!/usr/bin/env bats
# The delivery promise when the listener cannot keep its side: stdout
# closed, a pipe whose reader left, a file it may not grow, a full pipe
# nobody reads, a seen file it cannot write, a full disk. It acknowledges
# nothing it has not printed and recorded; chat-send says
# "delivered":false, stores the message and exits as chat-send(1) says;
# the listener exits 74, and once it can it prints the stored copy, once.
# The full-disk tests mount a small tmpfs, so they need root.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $wait_rc; each @test is its own subshell

load helper
load api-helper
bats_require_minimum_version 1.5.0

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	ERR=$BATS_TEST_TMPDIR/listen.err
	LISTEN_PID=
	READER_PID=
	FS=
	start_dird
	chat-register -u alice -p 1 >/dev/null
}

teardown() {
	local p
	for p in $LISTEN_PID $READER_PID; do
		kill "$p" 2>/dev/null || true
		wait_pid "$p" 10 || true
	done
	if [ -n "$FS" ]; then
		umount "$FS" 2>/dev/null || umount -l "$FS"
	fi
	stop_dird
}

# wait_lines FILE PATTERN N: waits up to 20 s for N lines matching.
wait_lines() {
	for _ in $(seq 1 400); do
		[ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.05
	done
	echo "fewer than $3 of $2 in $1" >&2
	return 1
}

# listen OUT [ARGS...]: chat-listen -u bob, stdout to OUT, waiting for
# its listening line; sets LISTEN_PID and LISTEN_PORT.
listen() {
	local out=$1
	shift
	: >"$out"
	chat-listen -u bob -a 127.0.0.1 "$@" >"$out" 2>>"$ERR" &
	LISTEN_PID=$!
	wait_lines "$out" '"listening"' 1
	LISTEN_PORT=$(head -n 1 "$out" | jq -r .port)
}

# listen_limited KIB OUT [ARGS...]: as listen, but no file it writes may
# grow past KIB KiB (ulimit -f; SIGXFSZ ignored, so a write past it fails
# with EFBIG, as one on a full disk fails with ENOSPC).
listen_limited() {
	local kib=$1 out=$2
	shift 2
	: >"$out"
	(
		trap '' XFSZ
		ulimit -f "$kib"
		exec chat-listen -u bob -a 127.0.0.1 "$@"
	) >"$out" 2>>"$ERR" &
	LISTEN_PID=$!
	wait_lines "$out" '"listening"' 1
	LISTEN_PORT=$(head -n 1 "$out" | jq -r .port)
}

# listener_exits STATUS: the listener ends, within 10 s, with STATUS.
listener_exits() {
	wait_pid "$LISTEN_PID" 10
	LISTEN_PID=
	echo "chat-listen exited $wait_rc:" >&2
	cat "$ERR" >&2
	[ "$wait_rc" -eq "$1" ]
}

# sent_stored: chat-send's $output is one line: not delivered, stored.
sent_stored() {
	printf '%s\n' "$output" | jq -e '.delivered == false and .stored == true'
}

# whole_lines FILE: the lines of FILE that end in a newline.
whole_lines() {
	local l
	while IFS= read -r l; do
		printf '%s\n' "$l"
	done <"$1"
}

# printed OUT UID: how many message lines of OUT carry UID.
printed() {
	jq -r 'select(.type == "message") | .uid' "$1" | grep -c -x -- "$2" || true
}

# recover OUT: a listener with a working stdout and state, catching up;
# returns once a message sent after it started has been acknowledged,
# so the catch-up, which comes before serving, is over.
recover() {
	listen "$1"
	run --separate-stderr chat-send -u alice -t 5 bob after the catch-up
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.delivered == true'
}

# mount_fs: a 256 KiB tmpfs at $FS; skips unless root can mount one.
mount_fs() {
	[ "$(id -u)" -eq 0 ] || skip "mounting a small tmpfs needs root"
	mkdir "$BATS_TEST_TMPDIR/fs"
	mount -t tmpfs -o size=256k,mode=0700 chat-test "$BATS_TEST_TMPDIR/fs" \
		2>/dev/null || skip "cannot mount a tmpfs here (no CAP_SYS_ADMIN?)"
	FS=$BATS_TEST_TMPDIR/fs
}

# fill_fs: takes every free block of $FS.
fill_fs() {
	dd if=/dev/zero of="$FS/filler" bs=4096 2>/dev/null || true
	[ "$(df --output=avail "$FS" | tail -n 1 | tr -d ' ')" -eq 0 ]
}

@test "stdout cannot grow past the listening line: no ack, stored, printed once on the next start" {
	out=$BATS_TEST_TMPDIR/run1.out
	listen_limited 1 "$out" --no-catch-up
	run --separate-stderr chat-send -u alice -t 2 bob "$(repeat x 3000)"
	[ "$status" -eq 0 ]
	sent_stored
	uid=$(printf '%s\n' "$output" | jq -r .uid)
	listener_exits 74
	grep -q 'chat-listen: stdout: File too large' "$ERR"
	# no message line got out whole
	[ "$(whole_lines "$out" | grep -c '"type":"message"')" -eq 0 ]

	recover "$BATS_TEST_TMPDIR/run2.out"
	[ "$(printed "$BATS_TEST_TMPDIR/run2.out" "$uid")" -eq 1 ]
	grep "$uid" "$BATS_TEST_TMPDIR/run2.out" | jq -e '.offline == true and (.text | length) == 3000'
}

@test "stdout cannot grow, --no-store: the message is reported lost, exit 69" {
	listen_limited 1 "$BATS_TEST_TMPDIR/run1.out" --no-catch-up --no-register
	run --separate-stderr chat-send -u alice -t 2 --no-store \
		--direct "127.0.0.1:$LISTEN_PORT" bob "$(repeat y 3000)"
	[ "$status" -eq 69 ]
	printf '%s\n' "$output" | jq -e '.delivered == false and .stored == false'
	listener_exits 74
}

@test "stdout a pipe whose reader has left: no ack, exit 74, printed once on the next start" {
	mkfifo "$BATS_TEST_TMPDIR/pipe" "$BATS_TEST_TMPDIR/in"
	# a reader of two lines, each passed on as it comes
	for _ in 1 2; do
		IFS= read -r line && printf '%s\n' "$line"
	done <"$BATS_TEST_TMPDIR/pipe" >"$BATS_TEST_TMPDIR/first" &
	READER_PID=$!
	chat-listen -u bob -a 127.0.0.1 --no-catch-up >"$BATS_TEST_TMPDIR/pipe" 2>>"$ERR" &
	LISTEN_PID=$!
	# chat-send connects, then waits for its input
	wait_lines "$BATS_TEST_TMPDIR/first" '"listening"' 1
	chat-send -u alice -t 2 bob <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/send.out" 2>/dev/null &
	send=$!
	exec 6>"$BATS_TEST_TMPDIR/in"
	# the reader took the listening and connect lines and left: the pipe is broken
	wait_pid "$READER_PID" 10
	READER_PID=
	jq -e '.type == "connect"' <(tail -n 1 "$BATS_TEST_TMPDIR/first")
	echo into a broken pipe >&6
	exec 6>&-
	wait_pid "$send" 20
	[ "$wait_rc" -eq 0 ]
	output=$(cat "$BATS_TEST_TMPDIR/send.out")
	sent_stored
	uid=$(printf '%s\n' "$output" | jq -r .uid)
	listener_exits 74
	grep -q 'chat-listen: stdout: Broken pipe' "$ERR"

	recover "$BATS_TEST_TMPDIR/run2.out"
	[ "$(printed "$BATS_TEST_TMPDIR/run2.out" "$uid")" -eq 1 ]
}

@test "stdout closed: it cannot say it listens, exits 74, and the message waits in the inbox" {
	chat-listen -u bob -a 127.0.0.1 >&- 2>>"$ERR" &
	LISTEN_PID=$!
	listener_exits 74
	grep -q 'chat-listen: stdout: Bad file descriptor' "$ERR"
	# it registered before it found out, and logged out when it did
	run --separate-stderr chat-send -u alice -t 2 bob while stdout was closed
	[ "$status" -eq 0 ]
	sent_stored
	uid=$(printf '%s\n' "$output" | jq -r .uid)

	recover "$BATS_TEST_TMPDIR/run2.out"
	[ "$(printed "$BATS_TEST_TMPDIR/run2.out" "$uid")" -eq 1 ]
}

@test "a full pipe nobody reads: what it could not print is not acknowledged; read later, nothing twice" {
	pipe=$BATS_TEST_TMPDIR/pipe
	mkfifo "$pipe"
	# fd 5 holds the pipe open and reads only the listening line
	exec 5<>"$pipe"
	chat-listen -u bob -a 127.0.0.1 --no-catch-up >"$pipe" 2>>"$ERR" 5<&- &
	LISTEN_PID=$!
	IFS= read -r -t 10 line <&5
	printf '%s\n' "$line" | jq -e '.type == "listening"'
	# 200 lines of 1000 bytes: three times what a pipe holds
	seq 1 200 | awk '{ printf "m%d-%0995d\n", $1, 0 }' |
		chat-send -u alice -t 2 bob >"$BATS_TEST_TMPDIR/send.out" 2>/dev/null 5<&- ||
		{ echo "chat-send exited $?" >&2; false; }
	[ "$(jq -s 'length == 200 and all(.stored)' "$BATS_TEST_TMPDIR/send.out")" = true ]
	jq -s -e 'any(.delivered | not)' "$BATS_TEST_TMPDIR/send.out"

	# someone reads at last: the listener prints the rest and goes on.
	# The reader takes fd 5 itself, so that the pipe never lacks one
	# (a writer of a pipe with no reader gets EPIPE).
	cat <&5 >"$BATS_TEST_TMPDIR/run1.out" &
	READER_PID=$!
	exec 5<&-
	run1=$BATS_TEST_TMPDIR/run1.out
	wait_lines "$run1" '"disconnect"' 1
	kill "$LISTEN_PID"
	listener_exits 0
	# fd 5 is open for writing too: cat never sees the end; its input
	# ends with the disconnect line, which it wrote
	kill "$READER_PID"
	wait_pid "$READER_PID" 10
	READER_PID=

	recover "$BATS_TEST_TMPDIR/run2.out"
	run2=$BATS_TEST_TMPDIR/run2.out
	jq -r .uid "$BATS_TEST_TMPDIR/send.out" | sort >"$BATS_TEST_TMPDIR/sent"
	jq -r 'select(.delivered) | .uid' "$BATS_TEST_TMPDIR/send.out" | sort >"$BATS_TEST_TMPDIR/delivered"
	jq -r 'select(.type == "message") | .uid' "$run1" | sort >"$BATS_TEST_TMPDIR/p1"
	jq -r 'select(.type == "message" and .offline) | .uid' "$run2" | sort >"$BATS_TEST_TMPDIR/p2"
	# what was reported delivered had been printed before the pipe filled
	[ -z "$(comm -23 "$BATS_TEST_TMPDIR/delivered" "$BATS_TEST_TMPDIR/p1")" ]
	# every message is there, none twice
	[ -z "$(sort "$BATS_TEST_TMPDIR/p1" "$BATS_TEST_TMPDIR/p2" | uniq -d)" ]
	[ "$(sort -u "$BATS_TEST_TMPDIR/p1" "$BATS_TEST_TMPDIR/p2")" = "$(cat "$BATS_TEST_TMPDIR/sent")" ]
}

@test "the seen file cannot grow: printed but not recorded, so not acknowledged; printed once more on the next start" {
	# 40 messages recorded: a seen file over 1 KiB
	listen "$BATS_TEST_TMPDIR/run1.out" --no-catch-up
	seq 1 40 | chat-send -u alice -t 5 bob >"$BATS_TEST_TMPDIR/send1.out"
	[ "$(jq -s 'length == 40 and all(.delivered)' "$BATS_TEST_TMPDIR/send1.out")" = true ]
	kill "$LISTEN_PID"
	listener_exits 0
	[ "$(stat -c %s "$CHAT_HOME/listen/bob/seen")" -gt 1024 ]

	# stdout is a pipe, which no file size limit holds back
	mkfifo "$BATS_TEST_TMPDIR/pipe"
	cat "$BATS_TEST_TMPDIR/pipe" >"$BATS_TEST_TMPDIR/run2.out" &
	READER_PID=$!
	(
		trap '' XFSZ
		ulimit -f 1
		exec chat-listen -u bob -a 127.0.0.1 --no-catch-up
	) >"$BATS_TEST_TMPDIR/pipe" 2>>"$ERR" &
	LISTEN_PID=$!
	wait_lines "$BATS_TEST_TMPDIR/run2.out" '"listening"' 1
	run --separate-stderr chat-send -u alice -t 2 bob not recorded
	[ "$status" -eq 0 ]
	sent_stored
	uid=$(printf '%s\n' "$output" | jq -r .uid)
	listener_exits 74
	grep -q 'File too large' "$ERR"
	wait_pid "$READER_PID" 10
	READER_PID=
	[ "$(printed "$BATS_TEST_TMPDIR/run2.out" "$uid")" -eq 1 ]

	# the one duplicate chat-listen(1) allows: printed, never recorded
	recover "$BATS_TEST_TMPDIR/run3.out"
	[ "$(jq -s '[.[] | select(.type == "message" and .offline)] | map(.uid)' \
		"$BATS_TEST_TMPDIR/run3.out" | jq -r '.[]')" = "$uid" ]
}

@test "the state folder cannot be made: exit 74 before it listens; the message waits in the inbox" {
	chat-register -u bob -p 1 >/dev/null
	# a file where CHAT_HOME should be stops root too
	: >"$BATS_TEST_TMPDIR/not-a-dir"
	CHAT_HOME=$BATS_TEST_TMPDIR/not-a-dir chat-listen -u bob -a 127.0.0.1 \
		>"$BATS_TEST_TMPDIR/run1.out" 2>>"$ERR" &
	LISTEN_PID=$!
	listener_exits 74
	[ ! -s "$BATS_TEST_TMPDIR/run1.out" ]
	run --separate-stderr chat-send -u alice -t 2 bob while bob could not start
	[ "$status" -eq 0 ]
	sent_stored
	uid=$(printf '%s\n' "$output" | jq -r .uid)

	recover "$BATS_TEST_TMPDIR/run2.out"
	[ "$(printed "$BATS_TEST_TMPDIR/run2.out" "$uid")" -eq 1 ]
}

@test "a full disk under stdout: no ack, stored, printed once on the next start" {
	mount_fs
	out=$FS/run1.out
	listen "$out" --no-catch-up
	fill_fs
	# the listening line's block has room for 4 KiB: pass it
	run --separate-stderr chat-send -u alice -t 2 bob "$(repeat z 6000)"
	[ "$status" -eq 0 ]
	sent_stored
	uid=$(printf '%s\n' "$output" | jq -r .uid)
	listener_exits 74
	grep -q 'chat-listen: stdout: No space left on device' "$ERR"
	[ "$(whole_lines "$out" | grep -c '"type":"message"')" -eq 0 ]

	recover "$BATS_TEST_TMPDIR/run2.out"
	[ "$(printed "$BATS_TEST_TMPDIR/run2.out" "$uid")" -eq 1 ]
}

@test "a full disk under the seen file: no ack, stored; printed once more, then never again" {
	mount_fs
	export CHAT_HOME=$FS/home
	# the users' keys (made by setup's registrations) go along
	mkdir -p "$CHAT_HOME"
	cp -a "$BATS_TEST_TMPDIR/home/keys" "$CHAT_HOME/"
	listen "$BATS_TEST_TMPDIR/run1.out" --no-catch-up
	fill_fs
	run --separate-stderr chat-send -u alice -t 2 bob disk full
	[ "$status" -eq 0 ]
	sent_stored
	uid=$(printf '%s\n' "$output" | jq -r .uid)
	listener_exits 74
	grep -q 'No space left on device' "$ERR"
	[ "$(printed "$BATS_TEST_TMPDIR/run1.out" "$uid")" -eq 1 ]

	rm "$FS/filler"
	recover "$BATS_TEST_TMPDIR/run2.out"
	[ "$(printed "$BATS_TEST_TMPDIR/run2.out" "$uid")" -eq 1 ]
	kill "$LISTEN_PID"
	listener_exits 0
	# recorded now: a third start prints it no more
	recover "$BATS_TEST_TMPDIR/run3.out"
	[ "$(printed "$BATS_TEST_TMPDIR/run3.out" "$uid")" -eq 0 ]
}
