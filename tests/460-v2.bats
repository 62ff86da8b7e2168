#!/usr/bin/env bats
# Wire protocol v2 between the real programs on loopback: the handshake
# and an encrypted stream; what goes on the wire holds no message text;
# a listener that is not the peer, a man in the middle, a changed key,
# an altered frame: each refused, nothing printed, the messages stored;
# v1 only when both ends say --plaintext.

load helper
bats_require_minimum_version 1.5.0

INTEROP=$BATS_TEST_DIRNAME/interop

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	start_dird
	W=$BATS_TEST_TMPDIR
	PIDS=()
	chat-register -u alice -p 1 >/dev/null
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_dird
}

# listen NAME [ARGS...]: chat-listen -u NAME, its output in $W/NAME.out,
# its stderr in $W/NAME.err; sets PORT.
listen() {
	local name=$1
	shift
	: >"$W/$name.out"
	chat-listen -u "$name" -a 127.0.0.1 "$@" >"$W/$name.out" \
		2>"$W/$name.err" &
	PIDS+=($!)
	wait_line "$W/$name.out" '"listening"' || return 1
	PORT=$(head -n 1 "$W/$name.out" | jq -r .port)
}

# wait_line FILE PATTERN: waits up to 10 s for a line matching.
wait_line() {
	for _ in $(seq 1 200); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no $2 in $1" >&2
	return 1
}

# proxy SCRIPT ARGS...: a python helper that prints its listening line
# first; sets PROXY_PORT, its output in $W/proxy.out.
proxy() {
	local script=$1
	shift
	PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$INTEROP/$script" "$@" \
		>"$W/proxy.out" 2>"$W/proxy.err" &
	PIDS+=($!)
	wait_line "$W/proxy.out" '"listening"' || return 1
	PROXY_PORT=$(head -n 1 "$W/proxy.out" | jq -r .port)
}

# stored_only FILE N: N status lines, none delivered, all stored.
stored_only() {
	[ "$(wc -l <"$1")" -eq "$2" ]
	jq -s -e 'all(.delivered == false and .stored == true)' "$1" >/dev/null
}

@test "a handshake and a stream: delivered, encrypted, each key pinned" {
	listen bob
	printf 'one\ntwo\nthree\n' | chat-send -u alice bob >"$W/send.out"
	[ "$(jq -s 'map(select(.delivered and .stored)) | length' "$W/send.out")" -eq 3 ]
	wait_line "$W/bob.out" '"disconnect"'
	grep '"type":"connect"' "$W/bob.out" | jq -e '.from == "alice" and .wire == 2'
	[ "$(jq -r 'select(.type == "message") | .text' "$W/bob.out" | paste -sd,)" = one,two,three ]
	# each side pinned the other's key, the one chat-key shows
	[ "$(awk '$1 == "bob" { print $2 }' "$CHAT_HOME/keys/alice.pins")" = "$(chat-key -u bob | jq -r .key)" ]
	[ "$(awk '$1 == "alice" { print $2 }' "$CHAT_HOME/keys/bob.pins")" = "$(chat-key -u alice | jq -r .key)" ]
}

@test "a capture of a chat on loopback holds none of the message texts" {
	listen bob
	texts=("the eagle lands at noon" "a secret meeting place" "the password is swordfish")
	printf '%s\n' "${texts[@]}" >"$W/texts"
	# --no-store: what the directory keeps is sealed history, not this.
	# (LeakSanitizer cannot run under ptrace: off for the traced run.)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -xx -s 70000 -e trace=network,write -o "$W/send.trace" \
		chat-send -u alice --no-store bob <"$W/texts" >"$W/send.out"
	[ "$(jq -s 'map(select(.delivered)) | length' "$W/send.out")" -eq 3 ]
	wait_line "$W/bob.out" '"disconnect"'
	# the listener's socket, traced as it runs
	strace -f -xx -s 70000 -e trace=network,write -o "$W/listen.trace" \
		-p "${PIDS[0]}" &
	tracer=$!
	sleep 0.5
	chat-send -u alice --no-store bob "${texts[0]}" >"$W/send2.out"
	wait_line "$W/bob.out" '"messages":1,'
	kill -INT "$tracer"
	wait "$tracer" || true
	# what the programs wrote to their stdout is not the wire
	grep -v -E '^[0-9]+ +write\([12],' "$W/send.trace" "$W/listen.trace" >"$W/wire"
	# the capture works: it holds the v2 preamble, IK with SHA256
	grep -q 'x02\\x49\\x53\\x00' "$W/wire"
	grep -q -E 'recvfrom|recv\(' "$W/wire"
	# strace -xx shows every byte in hex: look for the texts that way too
	for t in "${texts[@]}"; do
		hex=$(printf '%s' "$t" | od -An -tx1 | tr -d ' \n' | sed 's/\(..\)/\\\\x\1/g')
		run ! grep -q -F "$t" "$W/wire"
		run ! grep -q "$hex" "$W/wire"
	done
	[ "$(grep -c '"type":"message"' "$W/bob.out")" -eq 4 ]
}

@test "a listener whose directory entry points at another user's port: refused, stored" {
	listen carol
	# bob's entry says carol's port
	chat-register -u bob -p "$PORT" -a 127.0.0.1 >/dev/null
	run --separate-stderr chat-send -u alice bob "for bob only"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$W/send.out"
	stored_only "$W/send.out" 1
	printf '%s\n' "$stderr" | grep -q 'storing the messages for later'
	run ! grep -q '"type":"message"' "$W/carol.out"
	run ! grep -q 'for bob only' "$W/carol.out"
}

@test "a man in the middle with keys of its own: refused by both ends, stored" {
	listen bob
	chat-key -u mallory >/dev/null
	mapfile -t mk < <(/usr/bin/python3 "$INTEROP/chat_keys.py" "$CHAT_HOME/keys/mallory.key")
	proxy mitm.py "${mk[0]}" "$PORT"
	run --separate-stderr chat-send -u alice --direct "127.0.0.1:$PROXY_PORT" bob "not for mallory"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$W/send.out"
	stored_only "$W/send.out" 1
	# it completed a handshake each way and relayed the hellos
	wait_line "$W/proxy.out" '"relayed"'
	# the listener saw alice's hello come with a key the handshake did
	# not prove, and said so; chat-send passed that on
	grep -q "bad_handshake: the hello's key is not the one of the handshake" "$W/bob.err"
	printf '%s\n' "$stderr" | grep -q "bad_handshake: the hello's key is not the one of the handshake"
	# nothing came directly; the stored message may come from the inbox
	run ! direct "$W/bob.out"
	run ! grep -q '"type":"connect"' "$W/bob.out"
}

@test "a changed peer key: refused with both fingerprints, stored" {
	listen bob
	chat-send -u alice bob first >/dev/null
	old=$(chat-key -u bob | jq -r .fingerprint)
	kill "${PIDS[0]}"
	wait "${PIDS[0]}" || true
	PIDS=()
	# bob's key is lost and a new one made: the directory and alice's
	# pin still hold the old one
	mv "$CHAT_HOME/keys/bob.key" "$W/bob.key.old"
	chat-key -u bob >/dev/null
	new=$(chat-key -u bob | jq -r .fingerprint)
	[ "$old" != "$new" ]
	listen bob --no-register --no-catch-up
	run --separate-stderr chat-send -u alice --direct "127.0.0.1:$PORT" bob second
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$W/send.out"
	stored_only "$W/send.out" 1
	line=$(printf '%s\n' "$stderr" | grep 'the key of bob has changed')
	[[ $line == *"pinned $old, offered $new"* ]]
	[[ $line == *"chat-key forget bob"* ]]
	run ! grep -q '"text":"second"' "$W/bob.out"

	# and the other way: alice's key changes, bob's listener refuses her
	mv "$CHAT_HOME/keys/alice.key" "$W/alice.key.old"
	chat-key -u alice >/dev/null
	chat-key -u alice forget bob >/dev/null
	# (the directory would not store it either: not the key it bound)
	run --separate-stderr chat-send -u alice --no-store --direct "127.0.0.1:$PORT" bob third
	[ "$status" -eq 69 ]
	printf '%s\n' "$output" | jq -e '.delivered == false'
	printf '%s\n' "$stderr" | grep -q 'refused by the listener: the key of alice has changed'
	grep -q 'alice: the key of alice has changed: pinned SHA256:' "$W/bob.err"
	run ! grep -q '"text":"third"' "$W/bob.out"
}

@test "no pin yet: a key that is not the directory's is refused, by either end" {
	listen bob
	# an impostor says it is alice, with a key of its own (dissononce)
	chat-key -u mallory >/dev/null
	mapfile -t mk < <(/usr/bin/python3 "$INTEROP/chat_keys.py" "$CHAT_HOME/keys/mallory.key")
	echo "{\"type\":\"hello\",\"v\":1,\"from\":\"alice\",\"to\":\"bob\",\"key\":\"${mk[2]}\"}" |
		PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$INTEROP/noise_peer.py" -c "$PORT" -t 10 -p XX \
			-k "${mk[0]}" >"$W/m.out" 2>"$W/m.err" || true
	grep -q '"code":"key_mismatch"' "$W/m.out"
	grep -q 'alice: the key of alice has changed: the directory has SHA256:' "$W/bob.err"
	run ! grep -q '^alice ' "$CHAT_HOME/keys/bob.pins"
	run ! grep -q '"type":"connect"' "$W/bob.out"

	# bob's key is replaced before alice ever met him: the directory's
	# is the one alice checks, --direct or not
	kill "${PIDS[0]}"
	wait "${PIDS[0]}" || true
	PIDS=()
	mv "$CHAT_HOME/keys/bob.key" "$W/bob.key.old"
	chat-key -u bob >/dev/null
	listen bob --no-register --no-catch-up
	run --separate-stderr chat-send -u alice --direct "127.0.0.1:$PORT" bob "to the old bob"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$W/send.out"
	stored_only "$W/send.out" 1
	printf '%s\n' "$stderr" | grep -q 'the key of bob has changed: the directory has SHA256:'
	run ! grep -q '"text":"to the old bob"' "$W/bob.out"
}

# direct FILE [TEXT]: a listener's output holds a message (with TEXT)
# that came directly from a sender, not from the inbox.
direct() {
	jq -s -e --arg t "${2:-}" 'any(.[]; .type == "message" and .offline == false and
		($t == "" or .text == $t))' "$1" >/dev/null
}

# altered MODE FRAME: four messages through tamper.py, which alters the
# sender's transport frame FRAME (0 is the hello); sets the counts.
altered() {
	listen bob
	proxy tamper.py "$1" "$2" "$PORT"
	{ for m in m1 m2 m3 m4; do echo "$m"; sleep 0.3; done; } |
		chat-send -u alice -t 2 --direct "127.0.0.1:$PROXY_PORT" bob \
			>"$W/send.out" 2>"$W/send.err"
	[ "$(wc -l <"$W/send.out")" -eq 4 ]
	jq -s -e 'all(.stored)' "$W/send.out" >/dev/null
	wait_line "$W/bob.out" '"disconnect"'
	grep '"disconnect"' "$W/bob.out" | jq -e '.reason == "bad_frame" or .reason == "closed"'
	# each message printed as it came was reported delivered, none twice
	# (the inbox follower prints the stored ones later, offline)
	jq -r 'select(.type == "message" and .offline == false) | .uid' "$W/bob.out" | sort >"$W/printed"
	jq -r 'select(.delivered) | .uid' "$W/send.out" | sort >"$W/delivered"
	[ -z "$(uniq -d "$W/printed")" ]
	cmp "$W/printed" "$W/delivered"
	printed=$(wc -l <"$W/printed")
	# and nothing is lost: the rest comes from the inbox, each once
	jq -r .uid "$W/send.out" | sort >"$W/sent"
	for _ in $(seq 1 100); do
		[ "$(jq -r 'select(.type == "message") | .uid' "$W/bob.out" | sort -u | wc -l)" -eq 4 ] && break
		sleep 0.05
	done
	jq -r 'select(.type == "message") | .uid' "$W/bob.out" | sort >"$W/all"
	cmp "$W/all" "$W/sent"
}

@test "a replayed frame: the connection ends, nothing printed twice" {
	altered replay 1
	grep '"disconnect"' "$W/bob.out" | jq -e '.reason == "bad_frame"'
	[ "$printed" -eq 1 ]
}

@test "reordered frames: the connection ends, neither printed" {
	altered reorder 1
	grep '"disconnect"' "$W/bob.out" | jq -e '.reason == "bad_frame"'
	[ "$printed" -eq 0 ]
}

@test "a truncated frame: its message is not printed" {
	altered truncate 2
	[ "$printed" -eq 1 ]
	jq -s -e '.[1].delivered == false' "$W/send.out"
}

@test "a flipped bit: the connection ends, the message not printed" {
	altered flip 2
	grep '"disconnect"' "$W/bob.out" | jq -e '.reason == "bad_frame"'
	[ "$printed" -eq 1 ]
}

@test "an unaltered relay delivers all four" {
	altered pass 0
	[ "$printed" -eq 4 ]
}

@test "--plaintext on both ends speaks v1; a v1 sender to a v2 listener is refused" {
	listen bob --plaintext
	run --separate-stderr chat-send -u alice --plaintext bob "in the clear"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.delivered == true'
	wait_line "$W/bob.out" '"in the clear"'
	grep '"type":"connect"' "$W/bob.out" | jq -e '.wire == 1'
	# the same listener takes v2 too
	chat-send -u alice bob encrypted | jq -e '.delivered == true'
	grep '"type":"connect"' "$W/bob.out" | tail -n 1 | jq -e '.wire == 2'
	kill "${PIDS[0]}"
	wait "${PIDS[0]}" || true
	PIDS=()

	listen bob
	run --separate-stderr chat-send -u alice --plaintext bob "in the clear again"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.delivered == false and .stored == true'
	printf '%s\n' "$stderr" | grep -q 'v2_required: this listener speaks only wire protocol v2'
	run ! direct "$W/bob.out" "in the clear again"
}
