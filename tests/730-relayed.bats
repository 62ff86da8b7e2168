#!/usr/bin/env bats
# Relayed delivery, end to end: a chat-listen that no address of its
# reaches (its directory entry names a port nobody listens on) is called
# on its event stream, joins the directory's relay, and takes the
# message there over the encrypted channel; chat-send says
# "path":"relayed". Without a relay, or with --no-relay, or with nobody to
# call, the messages are stored and the status says so.
# shellcheck disable=SC2154 # helpers set $output etc.

bats_require_minimum_version 1.5.0

load helper

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	LISTEN_PID=
}

teardown() {
	if [ -n "$LISTEN_PID" ]; then
		kill "$LISTEN_PID" 2>/dev/null || true
		wait "$LISTEN_PID" 2>/dev/null || true
	fi
	stop_dird
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

# unreachable_bob: bob registered at a port nobody listens on, and his
# chat-listen on another, unregistered: direct delivery must fail.
unreachable_bob() {
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen.out
	LISTEN_ERR=$BATS_TEST_TMPDIR/listen.err
	chat-listen -u bob -a 127.0.0.1 --no-register >"$LISTEN_OUT" \
		2>"$LISTEN_ERR" 3>&- &
	LISTEN_PID=$!
	wait_in "$LISTEN_OUT" '"listening"'
}

# callable USER: waits until the directory can call USER (an event
# stream is open), asking as a user of the test's own; at most 5 s.
callable() {
	curl -s -o /dev/null -d '{"username":"probe","port":1}' "$CHAT_SERVER/register"
	for _ in $(seq 1 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' \
			-d "{\"username\":\"probe\",\"peer\":\"$1\"}" "$CHAT_SERVER/relay")
		[ "$code" = 200 ] && return 0
		sleep 0.05
	done
	echo "$1 never became callable: POST /relay says $code" >&2
	return 1
}

# relay_asks: the POST /relay requests the directory has logged.
relay_asks() {
	grep -c '"path":"/relay"' "$DIRD_LOG" || true
}

@test "a listener no address reaches takes the message at the relay: path relayed, printed once" {
	start_dird --relay-ttl 2
	unreachable_bob
	callable bob
	run --separate-stderr chat-send -u alice bob "met at the relay"
	[ "$status" -eq 0 ]
	jq -e '.delivered == true and .stored == true and .path == "relayed"' <<<"$output"
	uid=$(jq -r .uid <<<"$output")
	wait_in "$LISTEN_OUT" "$uid"
	[ "$(grep -c "$uid" "$LISTEN_OUT")" -eq 1 ]
	grep "$uid" "$LISTEN_OUT" | jq -e '.text == "met at the relay" and .from == "alice" and .offline == false'
	grep '"type":"connect"' "$LISTEN_OUT" | jq -e '.addr == "relay 127.0.0.1" and .from == "alice" and .wire == 2'
	# The relay carried the channel, never the text.
	wait_in "$DIRD_LOG" '"relay_end"'
	run ! grep -q 'met at the relay' "$DIRD_LOG"
}

@test "many lines through one relayed connection arrive in order, each once" {
	start_dird --relay-ttl 2
	unreachable_bob
	callable bob
	run --separate-stderr bash -c 'seq 1 200 | chat-send -u alice bob'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 200 ]
	printf '%s\n' "$output" | jq -se 'all(.path == "relayed" and .delivered)'
	wait_in "$LISTEN_OUT" '"text":"200"'
	[ "$(jq -r 'select(.type == "message" and .offline == false) | .text' "$LISTEN_OUT" | tr '\n' ' ')" = "$(seq 1 200 | tr '\n' ' ')" ]
	[ "$(grep -c '"type":"connect"' "$LISTEN_OUT")" -eq 1 ]
}

@test "--no-relay: the message is stored and the status says so" {
	start_dird --relay-ttl 2
	unreachable_bob
	callable bob
	asked=$(relay_asks)
	run --separate-stderr chat-send -u alice --no-relay bob "keep it"
	[ "$status" -eq 0 ]
	jq -e '.delivered == false and .stored == true and .path == "stored"' <<<"$output"
	[ "$(relay_asks)" -eq "$asked" ]
}

@test "a directory without a relay: stored, and chat-send does not ask again for each batch" {
	start_dird --no-relay
	unreachable_bob
	run --separate-stderr chat-send -u alice bob "no relay here"
	[ "$status" -eq 0 ]
	jq -e '.delivered == false and .stored == true and .path == "stored"' <<<"$output"
	[ "$(grep -c '"path":"/relay"' "$DIRD_LOG")" -le 1 ]
	# The listener has it from its inbox, as any stored message.
	wait_in "$LISTEN_OUT" '"text":"no relay here"'
}

@test "nobody to call (no listener running): 409, and the message is stored" {
	start_dird
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	run --separate-stderr chat-send -u alice bob "for later"
	[ "$status" -eq 0 ]
	jq -e '.delivered == false and .stored == true and .path == "stored"' <<<"$output"
	grep '"path":"/relay"' "$DIRD_LOG" | jq -e '.status == 409'
	[[ "$stderr" == *"no event stream"* ]]
}

@test "a listener its address reaches: path direct, and the relay is not asked" {
	start_dird
	chat-register -u alice -p 1 >/dev/null
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen.out
	chat-listen -u bob -a 127.0.0.1 >"$LISTEN_OUT" 2>/dev/null 3>&- &
	LISTEN_PID=$!
	wait_in "$LISTEN_OUT" '"listening"'
	run --separate-stderr chat-send -u alice bob "straight there"
	[ "$status" -eq 0 ]
	jq -e '.delivered == true and .path == "direct"' <<<"$output"
	run ! grep -q '"path":"/relay"' "$DIRD_LOG"
}

@test "--direct never asks the relay" {
	start_dird --relay-ttl 2
	unreachable_bob
	callable bob
	asked=$(relay_asks)
	run --separate-stderr chat-send -u alice --direct 127.0.0.1:1 bob "only there"
	jq -e '.delivered == false and .path == "stored"' <<<"$output"
	[ "$(relay_asks)" -eq "$asked" ]
}

# reachable_bob: bob's chat-listen registered at its own address, with a
# STUN server of the test's own for the punching port (CHAT_STUN).
reachable_bob() {
	CHAT_STUN=127.0.0.1:$(jq -r 'select(.stun_port) | .stun_port' "$DIRD_OUT" | head -n 1)
	export CHAT_STUN
	chat-register -u alice -p 1 >/dev/null
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen.out
	chat-listen -u bob -a 127.0.0.1 >"$LISTEN_OUT" 2>/dev/null 3>&- &
	LISTEN_PID=$!
	wait_in "$LISTEN_OUT" '"listening"'
}

@test "--path relayed: through the relay, though bob's address answers" {
	start_dird --stun 127.0.0.1:0 --relay-ttl 2
	reachable_bob
	callable bob
	run --separate-stderr chat-send -u alice --path relayed bob "the long way"
	[ "$status" -eq 0 ]
	jq -e '.delivered == true and .path == "relayed"' <<<"$output"
	wait_in "$LISTEN_OUT" '"text":"the long way"'
	grep '"type":"connect"' "$LISTEN_OUT" | jq -e '.addr == "relay 127.0.0.1"'
}

@test "--path punched: from the punching port to bob's public address, not the relay" {
	start_dird --stun 127.0.0.1:0 --relay-ttl 2
	reachable_bob
	callable bob
	run --separate-stderr chat-send -u alice --path punched bob "through the hole"
	[ "$status" -eq 0 ]
	jq -e '.delivered == true and .path == "punched"' <<<"$output"
	wait_in "$LISTEN_OUT" '"text":"through the hole"'
	run ! grep -q '"type":"connect".*"relay ' "$LISTEN_OUT"
}

@test "--path punched where no hole opens: stored, the relay never joined" {
	start_dird --stun 127.0.0.1:0 --relay-ttl 2
	CHAT_STUN=127.0.0.1:$(jq -r 'select(.stun_port) | .stun_port' "$DIRD_OUT" | head -n 1)
	export CHAT_STUN
	unreachable_bob
	callable bob
	run --separate-stderr chat-send -u alice --path punched bob "no hole"
	[ "$status" -eq 0 ]
	jq -e '.delivered == false and .stored == true and .path == "stored"' <<<"$output"
	[[ "$stderr" == *"no hole punched"* ]]
	# bob has it from his inbox, not live
	wait_in "$LISTEN_OUT" '"text":"no hole"'
	run ! grep -q '"type":"connect"' "$LISTEN_OUT"
}

@test "--path direct: bob's addresses only, the relay never asked" {
	start_dird --relay-ttl 2
	unreachable_bob
	callable bob
	asked=$(relay_asks)
	run --separate-stderr chat-send -u alice --path direct --no-store bob "only his address"
	[ "$status" -eq 69 ]
	jq -e '.delivered == false and .stored == false and .path == null' <<<"$output"
	[[ "$stderr" == *"127.0.0.1:1: Connection refused"* ]]
	[ "$(relay_asks)" -eq "$asked" ]
	run ! grep -q 'only his address' "$LISTEN_OUT"
}

@test "--path: none of the three, or with --no-relay or --direct, is a usage error (64)" {
	start_dird
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
	run -64 chat-send -u alice --path sideways bob hi
	[[ "$output" == *"--path sideways: not direct, punched or relayed"* ]]
	run -64 chat-send -u alice --path punched --no-relay bob hi
	[[ "$output" == *"not with --no-relay"* ]]
	run -64 chat-send -u alice --path relayed --direct 127.0.0.1:1 bob hi
	[[ "$output" == *"not with --direct"* ]]
	run -64 chat-send -u alice --path bob
	run chat-history -u bob alice
	[ -z "$output" ]
}

@test "chat-history --calls is only for following the inbox: 64 otherwise" {
	start_dird
	chat-register -u bob -p 1 >/dev/null
	run -64 chat-history -u bob --calls
	[[ "$output" == *"--calls"* ]]
	run -64 chat-history -u bob -f --calls alice
}
