#!/usr/bin/env bats
# The relay: POST /relay gives a one-time token for the directory's
# relay and calls the peer on its event stream with the same token; two
# real sockets that bind with it are spliced both ways, with half-closes;
# bad requests, unsigned keyed askers, peers without a stream and the
# limits are refused with their documented status; chat-dird's --relay
# flags.
# shellcheck disable=SC2154 # helpers set $body etc.

bats_require_minimum_version 1.5.0

load helper
load api-helper

STREAMS=()

teardown() {
	local p
	for p in "${STREAMS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -n "${HOLD_PID:-}" ] && kill "$HOLD_PID" 2>/dev/null
	[ -n "${HOLD_PID:-}" ] && wait "$HOLD_PID" 2>/dev/null
	stop_dird
	check_errors
	# A full relay's 503 is what one test asks for.
	[ -n "${ALLOW_5XX:-}" ] || no_5xx_logged
}

# stream USER: bob's (USER's) /events in the background, into
# $BATS_TEST_TMPDIR/USER.events; waits for the opening comment.
stream() {
	local f=$BATS_TEST_TMPDIR/$1.events i
	: >"$f"
	curl -sN "$CHAT_SERVER/events?username=$1" >"$f" 3>&- &
	STREAMS+=($!)
	for ((i = 0; i < 100; i++)); do
		grep -q '^: chat-dird events' "$f" && return 0
		sleep 0.05
	done
	echo "stream $1 did not open" >&2
	return 1
}

# call_of USER: the data of the last relay event on USER's stream, as
# JSON, waiting up to 2 s for one.
call_of() {
	local f=$BATS_TEST_TMPDIR/$1.events i
	for ((i = 0; i < 40; i++)); do
		if grep -q '^data: {"type":"relay"' "$f"; then
			grep '^data: {"type":"relay"' "$f" | tail -n 1 | cut -c7-
			return 0
		fi
		sleep 0.05
	done
	echo "no relay call on $1's stream:" >&2
	cat "$f" >&2
	return 1
}

relay_port() {
	jq -r .relay_port "$DIRD_OUT"
}

# splice PORT TOKEN: two sockets bind at the relay with TOKEN and talk
# both ways; prints what each heard, one line each.
splice() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys
port, tok = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
def side():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"CRL1" + tok)
    return s
def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            break
        b += d
    return b
a = side()
b = side()
print("answers", a.recv(1).hex(), b.recv(1).hex())
a.sendall(b"hello from a")
print("b heard", recv_exact(b, 12).decode())
a.shutdown(socket.SHUT_WR)
print("b end", repr(b.recv(10)))
b.sendall(b"b still talks")
print("a heard", recv_exact(a, 13).decode())
b.close()
print("a end", repr(a.recv(10)))
c = side()
print("third", c.recv(1).hex())
EOF
}

@test "POST /relay: a token and the relay's address; the peer is called with the same token" {
	start_dird
	register alice
	register bob
	stream bob
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200 ".token | test(\"^[0-9a-f]{64}$\")"
	expect 200 ".relay == \"127.0.0.1:$(relay_port)\" and .expires_in == 10 and (keys | length) == 3"
	token=$(jq -r .token <<<"$body")
	run -0 call_of bob
	jq -e --arg t "$token" --arg r "127.0.0.1:$(relay_port)" '. == {"type":"relay","from":"alice","token":$t,"relay":$r,"expires_in":10}' <<<"$output"
	# A second call is another token.
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200 ".token != \"$token\""
}

@test "two sockets bound with the token are spliced both ways, with half-closes; a third is refused" {
	start_dird
	register alice
	register bob
	stream bob
	post /relay '{"username":"ALICE","peer":"bob"}'
	expect 200
	run -0 splice "$(relay_port)" "$(jq -r .token <<<"$body")"
	[ "${lines[0]}" = "answers 00 00" ]
	[ "${lines[1]}" = "b heard hello from a" ]
	[ "${lines[2]}" = "b end b''" ]
	[ "${lines[3]}" = "a heard b still talks" ]
	[ "${lines[4]}" = "a end b''" ]
	[ "${lines[5]}" = "third 01" ]
	for _ in $(seq 1 40); do
		grep -q '"relay_end"' "$DIRD_LOG" && break
		sleep 0.05
	done
	grep '"relay_end"' "$DIRD_LOG" | jq -e '.asker == "alice" and .peer == "bob" and .bytes_first + .bytes_second == 25 and .reason == "closed"'
}

@test "the asker's candidates go to the peer in the call, the observed address first; bad ones are 400" {
	start_dird
	register alice
	register bob
	stream bob
	post /relay '{"username":"alice","peer":"bob","port":40000,"candidates":[{"ip":"203.0.113.7","port":40001,"type":"srflx"},{"ip":"10.0.0.5","port":40000,"type":"host"}]}'
	expect 200
	run -0 call_of bob
	jq -e '.candidates == [{"ip":"127.0.0.1","port":40000,"type":"observed"},{"ip":"203.0.113.7","port":40001,"type":"srflx"},{"ip":"10.0.0.5","port":40000,"type":"host"}]' <<<"$output"
	post /relay '{"username":"alice","peer":"bob","candidates":[]}'
	expect_error 400 invalid_field
	post /relay '{"username":"alice","peer":"bob","port":0,"candidates":[]}'
	expect_error 400 invalid_port
	post /relay '{"username":"alice","peer":"bob","port":1,"candidates":[{"ip":"nowhere","port":1,"type":"host"}]}'
	expect_error 400 invalid_candidates
	post /relay '{"username":"alice","peer":"bob","port":1,"candidates":[{"ip":"10.0.0.1","port":1,"type":"relay"}]}'
	expect_error 400 invalid_candidates
	post /relay '{"username":"alice","peer":"bob","port":1,"candidates":{}}'
	expect_error 400 invalid_candidates
	# Without candidates, a call has none.
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200
	run -0 call_of bob
	jq -e 'has("candidates") | not' <<<"$output"
}

@test "bad requests: 400 with their codes, 404 for unknown users, 405 for GET" {
	start_dird
	register alice
	register bob
	stream bob
	post /relay ''
	expect_error 400 invalid_json
	post /relay '[1]'
	expect_error 400 invalid_json
	post /relay '{"peer":"bob"}'
	expect_error 400 invalid_field
	post /relay '{"username":"alice"}'
	expect_error 400 invalid_field
	post /relay '{"username":"alice","peer":7}'
	expect_error 400 invalid_field
	post /relay '{"username":"al ice","peer":"bob"}'
	expect_error 400 invalid_username
	post /relay '{"username":"alice","peer":"Alice"}'
	expect_error 400 same_user
	post /relay '{"username":"alice","peer":"nobody"}'
	expect_error 404 peer_not_found
	post /relay '{"username":"nobody","peer":"bob"}'
	expect_error 404 peer_not_found
	get /relay
	expect_error 405 method_not_allowed
	# None of them called bob.
	run ! grep -q '"type":"relay"' "$BATS_TEST_TMPDIR/bob.events"
}

@test "a peer with no event stream open: 409 peer_unreachable, and no token is spent" {
	start_dird --relay-max-total 1
	register alice
	register bob
	post /relay '{"username":"alice","peer":"bob"}'
	expect_error 409 peer_unreachable
	stream bob
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200
}

@test "an asker with a key must sign: 401 unsigned, 403 signed by another, 200 signed" {
	start_dird
	chat-register -u alice -p 5001 >/dev/null
	chat-register -u carol -p 5003 >/dev/null
	register bob
	stream bob
	post /relay '{"username":"alice","peer":"bob"}'
	expect_error 401 signature_required
	api_as carol POST /relay '{"username":"alice","peer":"bob"}'
	[ "$status_code" = 403 ]
	api_as alice POST /relay '{"username":"alice","peer":"bob"}'
	expect 200 '.token | length == 64'
	run -0 call_of bob
	jq -e '.from == "alice"' <<<"$output"
}

@test "--relay-rate: a user asking too often is 429 rate_limited; others are not held back" {
	start_dird --relay-rate 2
	register alice
	register bob
	register carol
	stream bob
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200
	post /relay '{"username":"alice","peer":"bob"}'
	expect_error 429 rate_limited
	post /relay '{"username":"carol","peer":"bob"}'
	expect 200
}

@test "--relay-max-conns and --relay-max-total: 429 for one user's, 503 relay_full for all" {
	ALLOW_5XX=1
	start_dird --relay-max-conns 1 --relay-max-total 2
	for u in alice bob carol dave erin; do register "$u"; done
	stream bob
	stream dave
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200
	post /relay '{"username":"carol","peer":"bob"}'
	expect_error 429 rate_limited
	post /relay '{"username":"carol","peer":"dave"}'
	expect 200
	post /relay '{"username":"erin","peer":"dave"}'
	expect_error 503 relay_full
}

@test "--relay-ttl: a token nobody used is let go; a late bind is refused" {
	start_dird --relay-ttl 1
	register alice
	register bob
	stream bob
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200 '.expires_in == 1'
	sleep 1.2
	run -0 python3 - "$(relay_port)" "$(jq -r .token <<<"$body")" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"CRL1" + bytes.fromhex(sys.argv[2]))
print(s.recv(1).hex())
EOF
	[ "$output" = 01 ]
}

@test "--no-relay: POST /relay is 404 not_found, as on a directory without one" {
	start_dird --no-relay
	register alice
	register bob
	jq -e 'has("relay_port") | not' "$DIRD_OUT"
	post /relay '{"username":"alice","peer":"bob"}'
	expect_error 404 not_found
}

@test "a wildcard relay is advertised at the address the request came to" {
	start_dird --relay 0.0.0.0:0
	register alice
	register bob
	stream bob
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200 ".relay == \"127.0.0.1:$(relay_port)\""
}

@test "an IPv6 relay is advertised in brackets" {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null ||
		skip "no IPv6 loopback here"
	start_dird --relay '[::1]:0'
	register alice
	register bob
	stream bob
	post /relay '{"username":"alice","peer":"bob"}'
	expect 200 ".relay == \"[::1]:$(relay_port)\""
}

@test "flags: --relay with --no-relay, bad addresses and numbers are usage errors (64)" {
	run -64 chat-dird -d "$BATS_TEST_TMPDIR/x.db" --relay 127.0.0.1:0 --no-relay
	[[ "$output" == *"choose one"* ]]
	run -64 chat-dird -d "$BATS_TEST_TMPDIR/x.db" --relay nowhere
	[[ "$output" == *"--relay: want ADDR:PORT"* ]]
	for f in --relay-ttl --relay-rate --relay-max-conns --relay-max-total --relay-max-bytes --relay-max-seconds; do
		run -64 chat-dird -d "$BATS_TEST_TMPDIR/x.db" "$f" 0
		[[ "$output" == *"$f: want an integer"* ]]
		run -64 chat-dird -d "$BATS_TEST_TMPDIR/x.db" "$f" x
	done
	[ ! -e "$BATS_TEST_TMPDIR/x.db" ]
}

# hold_port: a listener of python's on a free loopback port, in the
# background; prints the port.
hold_port() {
	local f=$BATS_TEST_TMPDIR/held
	python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(60)' "${1:-0}" >"$f" 3>&- &
	HOLD_PID=$!
	for _ in $(seq 1 100); do
		[ -s "$f" ] && break
		sleep 0.05
	done
	cat "$f"
}

@test "an explicit relay address in use: 69, and nothing serves" {
	held=$(hold_port)
	[ -n "$held" ]
	run -69 chat-dird -l 127.0.0.1:0 -d "$BATS_TEST_TMPDIR/x.db" --relay "127.0.0.1:$held"
	[[ "$output" == *'"event":"fatal"'*relay* ]]
}

@test "the default relay port in use: a warning, and the directory serves without a relay" {
	# 3479 held by us, or by another program: busy either way.
	hold_port 3479 >/dev/null || true
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	start_dird -l "127.0.0.1:$port" --no-stun --relay-ttl 10
	if ! grep -q '"event":"relay"' "$DIRD_LOG"; then
		# Our listener lost the race for 3479 to nobody: it was free.
		jq -e '.relay_port == 3479' "$DIRD_OUT"
		skip "port 3479 could not be held for the test"
	fi
	grep '"event":"relay"' "$DIRD_LOG" | jq -e '.level == "warn" and (.message | test("without a relay"))'
	jq -e 'has("relay_port") | not' "$DIRD_OUT"
	get /healthz
	expect 200
}
