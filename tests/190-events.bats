#!/usr/bin/env bats
# The push channel: GET /events streams server-sent events to a real
# curl, one for each message stored with the user as sender or receiver;
# private as the inbox is; bounded per daemon and per user; resumed with
# Last-Event-ID; a client that goes away frees its slot.
# shellcheck disable=SC2154 # helpers set $body etc.

load helper
load api-helper

STREAMS=()

setup() {
	DIRD_ARGS=(--heartbeat 1)
}
teardown() {
	local p
	for p in "${STREAMS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_dird
	check_errors
}

# stream FILE QUERY [CURL-ARGS...]: opens /events?QUERY in the background,
# its output (headers, then events) in FILE; waits for the opening comment.
stream() {
	local f=$1 q=$2 i
	shift 2
	: >"$f"
	curl -sN -D "$f.head" "$@" "$CHAT_SERVER/events?$q" >"$f" &
	STREAMS+=($!)
	STREAM_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '^: chat-dird events' "$f" && return 0
		sleep 0.05
	done
	echo "stream $q did not open: $(cat "$f.head" "$f")" >&2
	return 1
}

# wait_line FILE PATTERN [SECONDS]: waits until FILE has a line matching
# the grep -E PATTERN, at most SECONDS (2).
wait_line() {
	local i
	for ((i = 0; i < ${3:-2} * 20; i++)); do
		grep -Eq "$2" "$1" && return 0
		sleep 0.05
	done
	echo "no line /$2/ in $1 after ${3:-2} s:" >&2
	cat "$1" >&2
	return 1
}

@test "a stream of the receiver and one of the sender each get the event at once" {
	start_dird "${DIRD_ARGS[@]}"
	register alice
	register bob
	register carol
	stream "$BATS_TEST_TMPDIR/bob" username=bob
	stream "$BATS_TEST_TMPDIR/alice" username=alice
	stream "$BATS_TEST_TMPDIR/carol" username=carol
	grep -qi '^content-type: text/event-stream' "$BATS_TEST_TMPDIR/bob.head"
	send alice bob "hello"
	wait_line "$BATS_TEST_TMPDIR/bob" "^id: $msg_id\$" 1
	wait_line "$BATS_TEST_TMPDIR/alice" "^id: $msg_id\$" 1
	grep '^data: ' "$BATS_TEST_TMPDIR/bob" | sed 's/^data: //' |
		jq -e --argjson id "$msg_id" 'select(.type == "message") |
			.id == $id and .from == "alice" and .to == "bob"'
	# carol's stream hears nothing of it, but its heartbeat
	wait_line "$BATS_TEST_TMPDIR/carol" '^:$' 3
	run grep -c '^data:' "$BATS_TEST_TMPDIR/carol"
	[ "$output" = 0 ]
}

@test "an unknown user is 404, a missing or bad one 400, a POST 405" {
	start_dird "${DIRD_ARGS[@]}"
	get "/events?username=nobody"
	expect_error 404 peer_not_found
	get "/events"
	expect_error 400 invalid_field
	get "/events?username=-x"
	expect_error 400 invalid_username
	register alice
	get "/events?username=alice&after=x"
	expect_error 400 bad_param
	req GET "/events?username=alice" -H 'Last-Event-ID: 1x'
	expect_error 400 bad_param
	post "/events?username=alice" '{}'
	expect_error 405 method_not_allowed
}

@test "a keyed user's stream takes its signature: none is 401, another's 403" {
	start_dird "${DIRD_ARGS[@]}"
	chat-register -u alice -p 5001 >/dev/null
	chat-register -u bob -p 5002 >/dev/null
	get "/events?username=alice"
	expect_error 401 signature_required
	sig=$(chat-key -u bob sign GET "/events?username=alice" | jq -r .value)
	req GET "/events?username=alice" -H "Chat-Signature: $sig"
	expect_error 403 forbidden
	sig=$(chat-key -u alice sign GET "/events?username=alice" | jq -r .value)
	stream "$BATS_TEST_TMPDIR/a" username=alice -H "Chat-Signature: $sig"
	api_as bob POST /message/create/ '{"sender":"bob","receiver":"alice","content":"hi"}'
	expect 201
	wait_line "$BATS_TEST_TMPDIR/a" '"type":"message"' 1
}

@test "streams are bounded per user (429) and per daemon (503)" {
	start_dird "${DIRD_ARGS[@]}" --max-streams 3 --max-user-streams 2
	register alice
	register bob
	stream "$BATS_TEST_TMPDIR/1" username=alice
	stream "$BATS_TEST_TMPDIR/2" username=alice
	req GET "/events?username=alice" -m 2
	expect_error 429 too_many_streams
	stream "$BATS_TEST_TMPDIR/3" username=bob
	req GET "/events?username=bob" -m 2
	expect_error 503 streams_full
	# the streams still open still hear
	send bob alice "still there"
	wait_line "$BATS_TEST_TMPDIR/1" "^id: $msg_id\$" 1
	wait_line "$BATS_TEST_TMPDIR/3" "^id: $msg_id\$" 1
}

@test "Last-Event-ID resumes after the id given; what the daemon cannot vouch for is a resync" {
	start_dird "${DIRD_ARGS[@]}"
	register alice
	register bob
	send alice bob one
	first=$msg_id
	send bob alice two
	second=$msg_id
	send alice bob three
	third=$msg_id
	stream "$BATS_TEST_TMPDIR/r" username=bob -H "Last-Event-ID: $first"
	wait_line "$BATS_TEST_TMPDIR/r" "^id: $third\$" 1
	run grep -c '^id: ' "$BATS_TEST_TMPDIR/r"
	[ "$output" = 2 ]
	run grep -E '^id: ' "$BATS_TEST_TMPDIR/r"
	[ "${lines[0]}" = "id: $second" ]
	[ "${lines[1]}" = "id: $third" ]
	run grep -c resync "$BATS_TEST_TMPDIR/r"
	[ "$output" = 0 ]
	# after= is the same, for clients that cannot set the header
	stream "$BATS_TEST_TMPDIR/q" "username=bob&after=$second"
	wait_line "$BATS_TEST_TMPDIR/q" "^id: $third\$" 1
	run grep -c '^id: ' "$BATS_TEST_TMPDIR/q"
	[ "$output" = 1 ]
	# a restarted daemon has seen none of them: it says so
	stop_dird
	start_dird "${DIRD_ARGS[@]}"
	stream "$BATS_TEST_TMPDIR/s" username=bob -H "Last-Event-ID: $first"
	wait_line "$BATS_TEST_TMPDIR/s" '^data: \{"type":"resync"\}$' 1
	run grep -c '^id: ' "$BATS_TEST_TMPDIR/s"
	[ "$output" = 0 ]
}

@test "a client that goes away frees its slot within a heartbeat" {
	start_dird "${DIRD_ARGS[@]}" --max-user-streams 1
	register alice
	stream "$BATS_TEST_TMPDIR/1" username=alice
	req GET "/events?username=alice" -m 2
	expect_error 429 too_many_streams
	kill "$STREAM_PID"
	wait "$STREAM_PID" 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do
		code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' \
			"$CHAT_SERVER/events?username=alice") || true
		[ "$code" = 200 ] && break
		sleep 0.1
	done
	[ "$code" = 200 ]
}

@test "SIGTERM ends open streams and the daemon exits 0 at once" {
	start_dird "${DIRD_ARGS[@]}"
	register alice
	stream "$BATS_TEST_TMPDIR/1" username=alice
	kill "$DIRD_PID"
	wait_pid "$DIRD_PID" 3
	[ "$wait_rc" = 0 ]
	DIRD_PID=
	wait_pid "$STREAM_PID" 2
}

# follower USER [PEER]: chat-history -f in the background, its output in
# $BATS_TEST_TMPDIR/follow; polling set so slow that only a push wakes it.
follower() {
	CHAT_POLL_SECONDS=100000 chat-history -u "$@" -f \
		>"$BATS_TEST_TMPDIR/follow" 2>"$BATS_TEST_TMPDIR/follow.err" &
	STREAMS+=($!)
	FOLLOW_PID=$!
	# time to print the history and open its stream
	sleep 0.5
}

@test "chat-history -f is woken at once by the push channel, inbox and conversation" {
	start_dird "${DIRD_ARGS[@]}"
	chat-register -u alice -p 5001 >/dev/null
	chat-register -u bob -p 5002 >/dev/null
	register carol
	follower bob
	inbox=$FOLLOW_PID
	cp /dev/null "$BATS_TEST_TMPDIR/conv"
	CHAT_POLL_SECONDS=100000 chat-history -u alice bob -f \
		>"$BATS_TEST_TMPDIR/conv" 2>/dev/null &
	STREAMS+=($!)
	sleep 0.5
	chat-send -u alice bob "one" >/dev/null 2>&1
	wait_line "$BATS_TEST_TMPDIR/follow" '"text":"one"' 1
	wait_line "$BATS_TEST_TMPDIR/conv" '"text":"one"' 1
	chat-send -u bob alice "two" >/dev/null 2>&1
	wait_line "$BATS_TEST_TMPDIR/conv" '"text":"two"' 1
	send carol bob "three"
	wait_line "$BATS_TEST_TMPDIR/follow" '"text":"three"' 1
	# the inbox shows no message bob sent, the conversation none of carol
	run grep -c '"text":"two"' "$BATS_TEST_TMPDIR/follow"
	[ "$output" = 0 ]
	run grep -c '"text":"three"' "$BATS_TEST_TMPDIR/conv"
	[ "$output" = 0 ]
	run jq -s 'map(.id) | . == (unique)' "$BATS_TEST_TMPDIR/follow"
	[ "$output" = true ]
	kill "$inbox"
	wait_pid "$inbox" 2
	[ "$wait_rc" = 0 ]
}

@test "chat-history -f rides out a daemon restart: it resyncs and misses nothing" {
	start_dird "${DIRD_ARGS[@]}"
	register alice
	register bob
	follower bob
	send alice bob "before"
	wait_line "$BATS_TEST_TMPDIR/follow" '"text":"before"' 1
	port=$DIRD_PORT
	stop_dird
	# the daemon again on the same port and database; a message stored
	# before the follower is back comes by a resync
	launch_dird -l "127.0.0.1:$port" -d "$DIRD_DB" --heartbeat 1
	send alice bob "while away"
	wait_line "$BATS_TEST_TMPDIR/follow" '"text":"while away"' 4
	send alice bob "after"
	wait_line "$BATS_TEST_TMPDIR/follow" '"text":"after"' 1
	run grep -c . "$BATS_TEST_TMPDIR/follow"
	[ "$output" = 3 ]
}
