#!/usr/bin/env bats
# chat, one command at a time: each prints what the program it runs
# prints and exits as it does; `chat listen` files messages into boxes;
# the prompt read from a pipe says the same things as on a terminal, and
# every error is a clear line while the prompt carries on.

load helper
bats_require_minimum_version 1.5.0

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	export CHAT_HOME=$BATS_TEST_TMPDIR/home TZ=UTC
	unset CHAT_USER CHAT_PORT
	BG_PID=
	start_dird
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
}

teardown() {
	if [ -n "$BG_PID" ]; then
		kill -TERM "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
	stop_dird
}

# wait_for FILE PATTERN: waits up to 8 s for PATTERN in FILE.
wait_for() {
	for _ in $(seq 1 160); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no $2 in $1:" >&2
	cat "$1" >&2
	return 1
}

# wait_online NAME: waits up to 8 s until NAME is online at the port its
# chat-listen printed.
wait_online() {
	local port
	wait_for "$BG_OUT" '"listening"' || return 1
	port=$(head -n 1 "$BG_OUT" | jq .port)
	for _ in $(seq 1 160); do
		chat-peers --online "$1" | jq -e ".port == $port" >/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# start_listen NAME: `chat -u NAME listen` in the background; sets BG_PID,
# BG_OUT, and waits until NAME can be reached.
start_listen() {
	BG_OUT=$BATS_TEST_TMPDIR/listen-$1.out
	chat -u "$1" listen >"$BG_OUT" 2>"$BATS_TEST_TMPDIR/listen-$1.err" &
	BG_PID=$!
	wait_online "$1"
}

stop_listen() {
	kill -TERM "$BG_PID"
	rc=0
	wait "$BG_PID" || rc=$?
	BG_PID=
}

@test "--help prints the usage and the commands; --version the toolkit's" {
	run chat --help
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "usage: chat [-s url] [-u name] [command [arg ...]]" ]
	for word in --server --user register login connect 'show chat' 'end chat' \
		status logout exit send history peers friends listen; do
		grep -qF -- "$word" <<<"$output" || { echo "no $word" >&2; return 1; }
	done
	run chat --version
	[ "$status" -eq 0 ]
	[ "$output" = "chat $(chat-peers --version | cut -d ' ' -f 2)" ]
}

@test "usage errors exit 64 with a line on stderr" {
	run --separate-stderr chat --bogus
	[ "$status" -eq 64 ]
	[[ $stderr == usage:* ]]
	run --separate-stderr chat frobnicate
	[ "$status" -eq 64 ]
	[ "$stderr" = "chat: frobnicate: no such command (chat --help lists them)" ]
	run --separate-stderr chat status
	[ "$status" -eq 64 ]
	[ "$stderr" = "chat: no user: give -u or set CHAT_USER" ]
	run --separate-stderr chat register alice
	[ "$status" -eq 64 ]
	run --separate-stderr chat -u alice logout
	[ "$status" -eq 64 ]
	[[ $stderr == *"only at the chat prompt"* ]]
	run chat -s
	[ "$status" -eq 64 ]
	run chat -u alice show bob
	[ "$status" -eq 64 ]
}

@test "register prints chat-register's line, with -u and CHAT_PORT as defaults" {
	run --separate-stderr chat register carol 9003
	[ "$status" -eq 0 ]
	jq -e '.username == "carol" and .port == 9003 and .created == true' <<<"$output"
	CHAT_PORT=9004 run --separate-stderr chat -u carol register
	[ "$status" -eq 0 ]
	jq -e '.port == 9004 and .created == false' <<<"$output"
	run --separate-stderr chat register carol 70000
	[ "$status" -eq 64 ]
	[[ $stderr == chat-register:* ]]
	grep -qx carol "$CHAT_HOME/users"
}

@test "flags beat the environment: -u over CHAT_USER, -s over CHAT_SERVER" {
	good=$CHAT_SERVER
	CHAT_USER=nobody run --separate-stderr chat -u alice login
	[ "$status" -eq 0 ]
	jq -e '.username == "alice"' <<<"$output"
	CHAT_SERVER=http://127.0.0.1:1 run --separate-stderr chat -s "$good" -u alice login
	[ "$status" -eq 0 ]
	run --separate-stderr chat -s http://127.0.0.1:1 -u alice login
	[ "$status" -eq 69 ]
	run --separate-stderr chat --server=http://127.0.0.1:1 --user=alice login
	[ "$status" -eq 69 ]
}

@test "login tells whether a user is registered: 0, 67, 69" {
	run --separate-stderr chat login alice
	[ "$status" -eq 0 ]
	jq -e '.username == "alice"' <<<"$output"
	run --separate-stderr chat login zed
	[ "$status" -eq 67 ]
	[ -z "$output" ]
	stop_dird
	run --separate-stderr chat login alice
	[ "$status" -eq 69 ]
}

@test "send, connect and history are chat-send and chat-history" {
	run --separate-stderr chat -u alice send bob hello there
	[ "$status" -eq 0 ]
	jq -e '.to == "bob" and .stored == true and .delivered == false' <<<"$output"
	run --separate-stderr chat -u alice connect bob < <(printf 'one\ntwo\n')
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	run --separate-stderr chat -u alice send zed hi
	[ "$status" -eq 67 ]
	run --separate-stderr chat -u bob history alice
	[ "$status" -eq 0 ]
	[ "$(jq -r .text <<<"$output" | paste -s -d ' ' -)" = "hello there one two" ]
	run --separate-stderr chat -u bob history -n 1 alice
	[ "$(jq -r .text <<<"$output")" = "two" ]
	run --separate-stderr chat -u bob history zed
	[ "$status" -eq 67 ]
}

@test "peers and friends pass through and fill the name cache" {
	chat-register -u carol -p 1 >/dev/null
	run --separate-stderr chat peers
	[ "$status" -eq 0 ]
	[ "$(jq -r .username <<<"$output" | paste -s -d ' ' -)" = "alice bob carol" ]
	[ "$(paste -s -d ' ' "$CHAT_HOME/users")" = "alice bob carol" ]
	rm "$CHAT_HOME/users"
	run --separate-stderr chat -u alice friends add bob
	[ "$status" -eq 0 ]
	run --separate-stderr chat -u alice friends
	[ "$status" -eq 0 ]
	jq -e '.username == "bob"' <<<"$output"
	grep -qx bob "$CHAT_HOME/users"
	run --separate-stderr chat peers zed
	[ "$status" -eq 67 ]
}

@test "listen files each message in its sender's box, flags it, passes lines through" {
	start_listen bob
	chat -u alice send bob 'hi bob' >/dev/null
	chat -u alice send bob 'are you there?' >/dev/null
	box=$CHAT_HOME/box/bob/alice.jsonl
	wait_for "$box" 'are you there'
	[ "$(jq -r .text "$box" | paste -s -d '|' -)" = "hi bob|are you there?" ]
	jq -e '.from == "alice" and .to == "bob" and (.uid | length) == 32 and
		(.ts | test("Z$")) and (has("type") | not)' "$box" >/dev/null
	[ "$(wc -l <"$CHAT_HOME/new/bob/alice")" -eq 2 ]
	grep -q '"type":"message"' "$BG_OUT"
	# status: the friends, each with its count of new messages
	run --separate-stderr chat -u bob status
	[ "$status" -eq 0 ]
	jq -e 'select(.username == "alice") | .new == 2 and .online == true' <<<"$output"
	# show chat prints the conversation and clears the flag
	run --separate-stderr chat -u bob show chat alice
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ ! -e "$CHAT_HOME/new/bob/alice" ]
	run chat -u bob status
	jq -e 'select(.username == "alice") | .new == 0' <<<"$output"
	stop_listen
	[ "$rc" -eq 0 ]
	chat-peers bob | jq -e '.online == false'
	[ ! -e "$CHAT_HOME/session/bob" ]
}

@test "listen catches up with what came while it was away" {
	chat -u alice send bob 'while you were out' >/dev/null
	start_listen bob
	wait_for "$CHAT_HOME/box/bob/alice.jsonl" 'while you were out'
	jq -e '.id == 1' "$CHAT_HOME/box/bob/alice.jsonl"
	stop_listen
}

@test "listen: one per user and CHAT_HOME (75); unknown user 67; no directory 69" {
	start_listen bob
	run --separate-stderr chat -u bob listen
	[ "$status" -eq 75 ]
	[[ $stderr == *"bob is logged in already"* ]]
	run --separate-stderr chat -u zed listen
	[ "$status" -eq 67 ]
	stop_listen
	stop_dird
	run --separate-stderr chat -u bob listen
	[ "$status" -eq 69 ]
}

@test "the prompt on a pipe: text for people, never JSON, nothing left running" {
	chat -u alice send bob 'hi bob' >/dev/null
	run --separate-stderr chat <<-'EOF'
	login bob
	status
	show chat alice
	end chat alice
	logout
	exit
	EOF
	[ "$status" -eq 0 ]
	echo "$output"
	[ -z "$stderr" ]
	[ "$(grep -c '^{' <<<"$output")" -eq 0 ]
	grep -qx 'logged in as bob, listening on port [0-9]*' <<<"$output"
	grep -qx 'friends: alice (online)' <<<"$output"
	grep -qx 'new messages from: alice (1)' <<<"$output"
	grep -qx '\* alice               online   1 new' <<<"$output"
	grep -qx 'online now: alice, bob' <<<"$output"
	grep -qx '[0-9][0-9]:[0-9][0-9] \[alice\]: hi bob' <<<"$output"
	grep -qx 'no longer live: alice' <<<"$output"
	grep -qx 'logged out bob' <<<"$output"
	chat-peers bob | jq -e '.online == false'
	[ ! -e "$CHAT_HOME/session/bob" ]
	[ ! -e "$CHAT_HOME/new/bob/alice" ]
}

@test "killed with SIGKILL, the prompt still leaves nothing running" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	chat <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	BG_PID=$!
	exec 5>"$BATS_TEST_TMPDIR/in"
	echo "login bob" >&5
	wait_for "$BATS_TEST_TMPDIR/out" '^logged in as bob'
	pid=$(cat "$CHAT_HOME/session/bob/listen.pid")
	kill -KILL "$BG_PID"
	wait "$BG_PID" || true
	BG_PID=
	exec 5>&-
	for _ in $(seq 1 160); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "chat-listen $pid is still running" >&2
		return 1
	fi
	chat-peers bob | jq -e '.online == false'
}

@test "the prompt: each error is one clear line and the prompt carries on" {
	run --separate-stderr chat <<-'EOF'
	status
	connect bob
	show chat bob
	end chat bob
	logout
	show
	frobnicate
	login b@d
	login zed
	register carol 70000
	register carol abc
	login alice
	login alice
	connect zed
	end chat bob
	exit
	EOF
	[ "$status" -eq 0 ]
	echo "$stderr"
	want='chat: not logged in: type login first
chat: not logged in: type login first
chat: not logged in: type login first
chat: not logged in: type login first
chat: not logged in: type login first
chat: show what? show chat [peer]
chat: frobnicate: no such command (help lists them)
chat: b@d: not a username (1 to 50 of A-Z a-z 0-9 . _ -, starting with a letter or digit)
chat: zed is not registered: register it first
chat: 70000: not a port (1 to 65535)
chat: abc: not a port (1 to 65535)
chat: logged in as alice already: logout first
chat: zed: no such user'
	[ "$stderr" = "$want" ]
	grep -qx 'bob was not live' <<<"$output"
	grep -qx 'logged out alice' <<<"$output"
}

@test "the prompt: the directory down is said plainly" {
	run --separate-stderr chat -s http://127.0.0.1:1 <<-'EOF'
	login alice
	register alice 9001
	EOF
	[ "$status" -eq 0 ]
	[ "$stderr" = "chat: cannot reach the directory at http://127.0.0.1:1 (is chat-dird running?)
chat: cannot reach the directory at http://127.0.0.1:1 (is chat-dird running?)" ]
}

@test "the prompt: a peer's escape sequences never reach the terminal" {
	printf '%s\n' $'red \e[31malert\e[0m\aend' | chat -u alice send bob >/dev/null
	run --separate-stderr chat <<-'EOF'
	login bob
	show chat alice
	EOF
	[ "$status" -eq 0 ]
	grep -q '\[alice\]: red  \[31malert \[0m end$' <<<"$output"
	[[ $output != *$'\e'* ]]
}

@test "the programs beside chat come first; the default home is XDG_STATE_HOME" {
	unset CHAT_HOME
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	PATH=/usr/bin:/bin run --separate-stderr "$ROOT/bin/chat" peers alice
	[ "$status" -eq 0 ]
	jq -e '.username == "alice"' <<<"$output"
	grep -qx alice "$XDG_STATE_HOME/chat/users"
}
