#!/usr/bin/env bats
# chat-register: registering and updating peers against a real chat-dird,
# its flags, settings from the environment, and its exit statuses.

bats_require_minimum_version 1.5.0

load helper

TS_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$'

setup() {
	start_dird
	unset CHAT_USER CHAT_PORT CHAT_TIMEOUT
	EVERY_PID=
}
# A test that failed midway leaves no chat-register --every behind.
teardown() {
	if [ -n "$EVERY_PID" ]; then
		kill "$EVERY_PID" 2>/dev/null || true
		wait "$EVERY_PID" 2>/dev/null || true
	fi
	stop_dird
}

# has JQ-EXPR: the one line of $output satisfies the jq expression.
has() {
	[ "${#lines[@]}" -eq 1 ] || { echo "not one line: $output" >&2; return 1; }
	printf '%s\n' "$output" | jq -e "$1" >/dev/null ||
		{ echo "fails $1: $output" >&2; return 1; }
}

@test "registers a new peer and prints it as recorded, with created and observed_ip" {
	run --separate-stderr chat-register -u alice -p 5000 -a 192.0.2.7
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	has '.username == "alice" and .ip == "192.0.2.7" and .port == 5000'
	has '.online == true and .created == true and .observed_ip == "127.0.0.1"'
	has ".last_seen | test(\"$TS_RE\")"
	has 'keys_unsorted == ["username","ip","port","online","last_seen","key","created","observed_ip","candidates"]'
	# the key it registered is the user's own, made on first use
	key=$(chat-key -u alice | jq -r .key)
	has ".key == \"$key\""
	api GET /peerinfo?username=alice
	expect 200 '.ip == "192.0.2.7" and .port == 5000'
}

@test "registering again updates the peer: created is false" {
	chat-register -u alice -p 5000 -a 192.0.2.7 >/dev/null
	run chat-register -u alice -p 6000 -a 2001:db8::1
	[ "$status" -eq 0 ]
	has '.created == false and .port == 6000 and .ip == "2001:db8::1"'
	# names are unique regardless of case; the first spelling stays
	run chat-register -u ALICE -p 6001 -a 192.0.2.8
	[ "$status" -eq 0 ]
	has '.created == false and .username == "alice" and .port == 6001'
}

@test "without -a it registers the local address that reaches the server" {
	run chat-register -u alice -p 5000
	[ "$status" -eq 0 ]
	has '.ip == "127.0.0.1" and .observed_ip == "127.0.0.1"'
}

@test "without -a, over IPv6 it registers the IPv6 address that reaches the server" {
	stop_dird
	# the last -l wins
	start_dird -l '[::1]:0' || skip "no IPv6 loopback"
	export CHAT_SERVER=http://[::1]:$DIRD_PORT
	run chat-register -u alice -p 5000
	[ "$status" -eq 0 ]
	has '.ip == "::1" and .observed_ip == "::1"'
}

@test "long options: --user --port --address --server" {
	local server=$CHAT_SERVER
	export CHAT_SERVER=http://127.0.0.1:1
	run chat-register --user bob --port 7000 --address 192.0.2.9 --server "$server"
	[ "$status" -eq 0 ]
	has '.username == "bob" and .port == 7000 and .ip == "192.0.2.9"'
	run chat-register --user=bob --port=7001 --server="$server/"
	[ "$status" -eq 0 ]
	has '.port == 7001'
}

@test "CHAT_USER, CHAT_PORT and CHAT_SERVER are used when flags are not given" {
	CHAT_USER=carol CHAT_PORT=4000 run chat-register
	[ "$status" -eq 0 ]
	has '.username == "carol" and .port == 4000'
}

@test "flags win over CHAT_USER, CHAT_PORT and CHAT_SERVER; empty variables count as unset" {
	local server=$CHAT_SERVER
	CHAT_SERVER=http://127.0.0.1:1 CHAT_USER=carol CHAT_PORT=4000 \
		run chat-register -u dave -p 4001 -s "$server"
	[ "$status" -eq 0 ]
	has '.username == "dave" and .port == 4001'
	CHAT_USER= CHAT_PORT=4000 run chat-register
	[ "$status" -eq 64 ]
}

@test "no user or no port is a usage error: 64 and the usage on stderr" {
	run --separate-stderr chat-register -p 5000
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	[[ "$stderr" == *"usage: chat-register -u name -p port"* ]]
	run --separate-stderr chat-register -u alice
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"usage: chat-register"* ]]
	api GET /peers
	expect 200 '.peers == []'
}

@test "malformed values are usage errors, checked before any request" {
	local bad
	for bad in "-p 0" "-p 65536" "-p 5x" "-p -1" "-a 300.1.1.1" "-a host.example" \
		"-a ::1%lo" "-u bad/name" "-u .dot" "-u $(printf "a%.0s" $(seq 51))"; do
		# shellcheck disable=SC2086
		run --separate-stderr chat-register -u alice -p 5000 $bad
		[ "$status" -eq 64 ] || { echo "$bad: $status" >&2; return 1; }
		[[ "$stderr" == "chat-register: "* ]]
	done
	api GET /peers
	expect 200 '.peers == []'
}

@test "unknown options and operands are usage errors" {
	run --separate-stderr chat-register -u alice -p 5000 -x
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"usage: chat-register"* ]]
	run chat-register -u alice -p 5000 extra
	[ "$status" -eq 64 ]
	run chat-register -u alice -p
	[ "$status" -eq 64 ]
}

@test "-h and --help print the usage and options on stdout; --version the version" {
	run --separate-stderr chat-register -h
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = "usage: chat-register -u name -p port [-a ip] [-s url] [--stun host[:port] | --no-stun]" ]
	[[ "$output" == *--address* ]]
	run chat-register --help
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "usage: chat-register -u name -p port [-a ip] [-s url] [--stun host[:port] | --no-stun]" ]
	run chat-register --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^chat-register\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "a registration shows in chat-peers, online" {
	chat-register -u alice -p 5000 >/dev/null
	run chat-peers --online alice
	[ "$status" -eq 0 ]
	has '.username == "alice" and .online'
}

@test "the heartbeat of the man page: registering again keeps a peer online" {
	stop_dird
	start_dird --presence 1
	chat-register -u alice -p 5000 >/dev/null
	sleep 1.5
	run chat-peers alice
	has '.online == false'
	chat-register -u alice -p 5000 >/dev/null
	run chat-peers alice
	has '.online == true'
}

@test "a directory that is down: 69 and one line on stderr" {
	stop_dird
	run --separate-stderr timeout 10 chat-register -u alice -p 5000
	[ "$status" -eq 69 ]
	[ -z "$output" ]
	[[ "$stderr" == "chat-register: http://127.0.0.1:$DIRD_PORT/register: "* ]]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
}

# every_start ARGS...: chat-register --every in the background, output in
# $BATS_TEST_TMPDIR/every.out and .err; sets EVERY_PID. Waits for the
# first line.
every_start() {
	EVERY_OUT=$BATS_TEST_TMPDIR/every.out
	EVERY_ERR=$BATS_TEST_TMPDIR/every.err
	: >"$EVERY_OUT"
	chat-register "$@" >"$EVERY_OUT" 2>"$EVERY_ERR" 3>&- &
	EVERY_PID=$!
	for _ in $(seq 1 100); do
		[ -s "$EVERY_OUT" ] && return 0
		kill -0 "$EVERY_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "no first registration" >&2
	cat "$EVERY_ERR" >&2
	return 1
}

@test "--every registers at once and again every SECONDS, a line each; a signal logs out and exits 0" {
	local sig rc
	for sig in TERM INT HUP; do
		every_start -u alice -p 5000 -a 192.0.2.7 --every 0.2
		head -n 1 "$EVERY_OUT" | jq -e '.username == "alice" and .port == 5000 and .online'
		chat-peers alice | jq -e '.online == true'
		sleep 0.7
		[ "$(wc -l <"$EVERY_OUT")" -ge 3 ]
		[ "$(jq -r .last_seen "$EVERY_OUT" | sort -u | wc -l)" -ge 3 ]
		kill -"$sig" "$EVERY_PID"
		rc=0
		wait "$EVERY_PID" || rc=$?
		[ "$rc" -eq 0 ] || { echo "SIG$sig: exit $rc" >&2; return 1; }
		[ ! -s "$EVERY_ERR" ]
		chat-peers alice | jq -e '.online == false'
	done
}

@test "--every keeps a peer online past the presence window" {
	stop_dird
	start_dird --presence 1
	every_start -u alice -p 5000 --every 0.3
	sleep 1.5
	chat-peers alice | jq -e '.online == true'
	kill "$EVERY_PID"
	wait "$EVERY_PID"
}

@test "--every rides out a directory that goes away: said once, registered again when it is back" {
	every_start -u alice -p 5000 --every 0.1
	port=$DIRD_PORT
	stop_dird
	sleep 0.6
	start_dird -l "127.0.0.1:$port"
	lines=$(wc -l <"$EVERY_OUT")
	for _ in $(seq 1 100); do
		[ "$(wc -l <"$EVERY_OUT")" -gt "$lines" ] && break
		sleep 0.05
	done
	[ "$(wc -l <"$EVERY_OUT")" -gt "$lines" ]
	[ "$(grep -c . "$EVERY_ERR")" -eq 1 ]
	grep -q "^chat-register: http://127.0.0.1:$port/register: " "$EVERY_ERR"
	kill "$EVERY_PID"
	wait "$EVERY_PID"
	chat-peers alice | jq -e '.online == false'
}

@test "--every with a directory that is down at the start: 69 at once, as without" {
	stop_dird
	run --separate-stderr timeout 10 chat-register -u alice -p 5000 --every 1
	[ "$status" -eq 69 ]
	[ -z "$output" ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
}

@test "--every: a stdout that cannot be written is 74, after logging out" {
	chat-register -u alice -p 5000 >/dev/null
	run --separate-stderr timeout 10 bash -c \
		'chat-register -u alice -p 5000 --every 1 >/dev/full'
	[ "$status" -eq 74 ]
	[[ "$stderr" == "chat-register: stdout: "* ]]
	chat-peers alice | jq -e '.online == false'
}

@test "--logout logs the peer out, prints nothing; an unknown peer is 67" {
	chat-register -u alice -p 5000 >/dev/null
	run --separate-stderr chat-register -u alice --logout
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	chat-peers alice | jq -e '.online == false and .port == 5000'
	CHAT_USER=alice run chat-register --logout
	[ "$status" -eq 0 ]
	run --separate-stderr chat-register -u nobody --logout
	[ "$status" -eq 67 ]
	[[ "$stderr" == "chat-register: "* ]]
	stop_dird
	run timeout 10 chat-register -u alice --logout
	[ "$status" -eq 69 ]
}

@test "bad --every and --logout use: 64, checked before any request" {
	local bad
	for bad in "--every 0" "--every -1" "--every x" "--every 1s" \
		"--every 86401" "--every nan" "--every=" "--logout -p 5000" \
		"--logout -a 192.0.2.1" "--logout --every 1"; do
		# shellcheck disable=SC2086
		run --separate-stderr chat-register -u alice -p 5000 $bad
		if [[ $bad == --logout* ]]; then
			# shellcheck disable=SC2086
			run --separate-stderr chat-register -u alice $bad
		fi
		[ "$status" -eq 64 ] || { echo "$bad: $status" >&2; return 1; }
		[[ "$stderr" == "chat-register: "* ]]
	done
	run chat-register --logout
	[ "$status" -eq 64 ]
	CHAT_PORT=5000 run chat-register -u alice --logout
	[ "$status" -eq 0 ] || [ "$status" -eq 67 ]
	api GET /peers
	expect 200 '.peers == []'
	run chat-register --help
	[[ "$output" == *--every* && "$output" == *--logout* ]]
}

@test "--logout rides out a hangup: SIGHUP does not stop one under way" {
	chat-register -u alice -p 5000 >/dev/null
	# The directory, paused, takes the connection and answers a second
	# later: the logout is under way when the hangup comes.
	kill -STOP "$DIRD_PID"
	chat-register -u alice --logout &
	pid=$!
	sleep 0.3
	kill -HUP "$pid" || true
	sleep 0.7
	kill -CONT "$DIRD_PID"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	run chat-peers alice
	has '.online == false'
}

@test "candidates: the host address, and the public one a STUN server saw the registered port come from" {
	stun=$(jq -r .stun_port "$DIRD_OUT")
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	run --separate-stderr chat-register -u alice -a 127.0.0.1 -p "$port" --stun "127.0.0.1:$stun"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e --argjson p "$port" '[.candidates[] | .type] == ["observed", "host", "srflx"] and
		all(.candidates[]; .ip == "127.0.0.1" and .port == $p)'
	# --no-stun: the host address alone beside the observed one
	run --separate-stderr chat-register -u alice -a 127.0.0.1 -p "$port" --no-stun
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '[.candidates[] | .type] == ["observed", "host"]'
	# a STUN server that does not answer only leaves srflx out, in time
	CHAT_STUN=127.0.0.1:1 run --separate-stderr chat-register -u alice -a 127.0.0.1 -p "$port"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '[.candidates[] | .type] == ["observed", "host"]'
	run --separate-stderr chat-register -u alice -p "$port" --stun '127.0.0.1:99999'
	[ "$status" -eq 64 ]
}
