#!/usr/bin/env bats
# chat at the prompt, driven like people drive it: two terminals in tmux,
# keys typed, the screen read. Each wait polls the screen for a few
# seconds at most.

load helper

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home TZ=UTC
	echo "PS1='\$ '" >"$BATS_TEST_TMPDIR/bashrc"
	unset CHAT_USER CHAT_PORT
	# The server's socket in the test's folder, which goes with it.
	SOCK=$BATS_TEST_TMPDIR/tmux.sock
	start_dird
}

teardown() {
	tmux -S "$SOCK" kill-server 2>/dev/null || true
	stop_dird
}

# users NAME...: registered, and offline as after a logout.
users() {
	local name
	for name in "$@"; do
		chat-register -u "$name" -p 1 >/dev/null || return 1
		chat-register -u "$name" --logout >/dev/null || return 1
	done
}

tm() {
	tmux -S "$SOCK" "$@"
}

# term NAME: a terminal running bash, in the test's environment.
term() {
	tm new-session -d -s "$1" -x 200 -y 50 "bash --rcfile '$BATS_TEST_TMPDIR/bashrc' -i"
	wait_last "$1" '$'
}

# screen NAME: what the terminal shows, its history too, lines joined.
screen() {
	tm capture-pane -p -J -t "$1" -S - | sed 's/[[:space:]]*$//'
}

# last NAME: the last line of the screen that is not empty.
last() {
	screen "$1" | grep -v '^$' | tail -n 1
}

# wait_last NAME TEXT: waits until the last line is TEXT (a prompt).
wait_last() {
	for _ in $(seq 1 160); do
		[ "$(last "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	echo "the last line of $1 is not '$2':" >&2
	screen "$1" >&2
	return 1
}

# wait_see NAME REGEX [COUNT]: waits until COUNT (1) lines match REGEX.
wait_see() {
	local n
	for _ in $(seq 1 160); do
		n=$(screen "$1" | grep -c -E -- "$2") || true
		[ "$n" -ge "${3:-1}" ] && return 0
		sleep 0.05
	done
	echo "$1 does not show ${3:-1} of /$2/:" >&2
	screen "$1" >&2
	return 1
}

# typein NAME PROMPT TEXT: waits for PROMPT, then types TEXT and Enter.
typein() {
	wait_last "$1" "$2" || return 1
	tm send-keys -t "$1" -l -- "$3"
	tm send-keys -t "$1" Enter
}

# key NAME KEY: presses a key, such as C-c.
key() {
	tm send-keys -t "$1" "$2"
}

# login NAME: chat in terminal NAME, logged in as NAME.
login() {
	term "$1"
	typein "$1" '$' chat
	typein "$1" 'chat>' "login $1"
	wait_see "$1" "^logged in as $1"
	wait_last "$1" "$1>"
}

# listener NAME: the process id of NAME's chat-listen.
listener() {
	cat "$CHAT_HOME/session/$1/listen.pid"
}

# gone PID: waits up to 8 s for the process to end.
gone() {
	for _ in $(seq 1 160); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "process $1 is still running" >&2
	return 1
}

offline() {
	chat-peers "$1" | jq -e '.online == false' >/dev/null
}

@test "two people register, log in, chat both ways, show, end, log out, exit" {
	term alice
	typein alice '$' chat
	typein alice 'chat>' register
	typein alice 'username:' alice
	typein alice 'port to listen on:' 47001
	wait_see alice '^registered alice at 127.0.0.1 port 47001$'
	typein alice 'chat>' 'login alice'
	wait_see alice '^logged in as alice, listening on port'
	wait_see alice '^no friends yet: connect adds one$'
	term bob
	typein bob '$' chat
	typein bob 'chat>' 'register bob 47002'
	wait_see bob '^registered bob at 127.0.0.1 port 47002$'
	typein bob 'chat>' 'login bob'
	wait_see bob '^logged in as bob, listening on port'

	# bob starts a conversation; alice is told, and her status has a star.
	typein bob 'bob>' 'connect alice'
	wait_see bob '^alice is now a friend$'
	typein bob 'bob to alice>' 'hi alice'
	wait_see alice '^\* new message from bob \(show chat bob\)$'
	typein alice 'alice>' status
	wait_see alice '^\* bob +online +1 new$'
	wait_see alice '^online now: alice, bob$'

	# show chat: the history, then live messages as they come.
	typein alice 'alice>' 'show chat bob'
	wait_see alice '^[0-9]{2}:[0-9]{2} \[bob\]: hi alice$'
	wait_see alice '^-- live: new messages from bob'
	typein bob 'bob to alice>' 'are you there?'
	wait_see alice '^[0-9]{2}:[0-9]{2} \[bob\]: are you there\?$'
	typein alice 'alice>' status
	wait_see alice '^  bob +online$'

	# alice answers; bob, in the conversation, sees it at once.
	typein alice 'alice>' 'connect bob'
	wait_see alice '^[0-9:]+ \[bob\]: are you there\?$' 2
	typein alice 'alice to bob>' 'yes, here'
	wait_see bob '^[0-9]{2}:[0-9]{2} \[alice\]: yes, here$'
	typein alice 'alice to bob>' exit
	wait_see alice '^-- no longer talking to bob$'

	# end chat: bob's next message is flagged again, not shown.
	typein alice 'alice>' 'end chat bob'
	wait_see alice '^no longer live: bob$'
	typein bob 'bob to alice>' 'one more'
	wait_see alice '^\* new message from bob' 2
	[ "$(screen alice | grep -c 'one more')" -eq 0 ]
	typein alice 'alice>' 'show chat bob'
	wait_see alice '^[0-9:]+ \[YOU\]: yes, here$'
	wait_see alice '^[0-9:]+ \[bob\]: one more$'

	# bob leaves: logout, then exit; nothing of his keeps running.
	pid=$(listener bob)
	typein bob 'bob to alice>' /end
	typein bob 'bob>' logout
	wait_see bob '^logged out bob$'
	gone "$pid"
	offline bob
	typein bob 'chat>' exit
	typein bob '$' 'echo "status $?"'
	wait_see bob '^status 0$'

	typein alice 'alice>' status
	wait_see alice '^  bob +offline$'
	pid=$(listener alice)
	typein alice 'alice>' exit
	wait_see alice '^logged out alice$'
	typein alice '$' 'echo "status $?"'
	wait_see alice '^status 0$'
	gone "$pid"
	offline alice
	[ ! -e "$CHAT_HOME/session/alice" ]
}

@test "a peer who is offline gets what was typed at the next login" {
	users alice bob
	login alice
	typein alice 'alice>' 'connect bob'
	wait_see alice '^bob is offline: what you type is stored'
	typein alice 'alice to bob>' 'call me'
	wait_see alice '^\(not delivered now: stored; bob gets it at the next login\)$'
	login bob
	wait_see bob '^new messages from: alice \(1\)$'
	typein bob 'bob>' 'show chat alice'
	wait_see bob '^[0-9:]+ \[alice\]: call me$'
	# bob is back: alice's next line goes to him directly.
	typein alice 'alice to bob>' 'there you are'
	wait_see bob '^[0-9:]+ \[alice\]: there you are$'
}

@test "errors at the prompt are one line each, and the prompt carries on" {
	users alice bob
	term alice
	typein alice '$' chat
	for cmd in status 'connect bob' 'show chat bob' 'end chat bob' logout; do
		typein alice 'chat>' "$cmd"
	done
	wait_see alice '^chat: not logged in: type login first$' 5
	typein alice 'chat>' 'login zed'
	wait_see alice '^chat: zed is not registered: register it first$'
	typein alice 'chat>' 'login no/good'
	wait_see alice '^chat: no/good: not a username'
	typein alice 'chat>' register
	typein alice 'username:' carol
	typein alice 'port to listen on:' 99999
	wait_see alice '^chat: 99999: not a port \(1 to 65535\)$'
	typein alice 'chat>' 'whatever'
	wait_see alice '^chat: whatever: no such command \(help lists them\)$'
	typein alice 'chat>' 'help'
	wait_see alice '^  end chat \[peer\] '
	typein alice 'chat>' 'login alice'
	wait_see alice '^logged in as alice'
	typein alice 'alice>' 'connect zed'
	wait_see alice '^chat: zed: no such user$'

	# the same user a second time, elsewhere
	term bob
	typein bob '$' chat
	typein bob 'chat>' 'login alice'
	wait_see bob '^chat: alice is logged in already'

	# the directory goes away
	stop_dird
	typein alice 'alice>' status
	wait_see alice '^chat: cannot reach the directory at http://127.0.0.1:[0-9]+ \(is chat-dird running\?\)$'
	typein alice 'alice>' 'connect bob'
	wait_see alice '^chat: cannot reach the directory' 2
	typein alice 'alice>' logout
	wait_see alice '^chat: the directory did not hear the logout'
	typein alice 'chat>' exit
	typein alice '$' 'echo "status $?"'
	wait_see alice '^status 0$'
}

@test "Ctrl-C leaves at once: logged out, nothing left running" {
	users alice bob
	login alice
	pid=$(listener alice)
	key alice C-c
	typein alice '$' 'echo "status $?"'
	wait_see alice '^status 130$'
	gone "$pid"
	offline alice
}

@test "Ctrl-D cancels a question, ends a conversation, and leaves" {
	users alice bob
	login alice
	typein alice 'alice>' connect
	wait_last alice 'peer:'
	key alice C-d
	typein alice 'alice>' 'connect bob'
	wait_last alice 'alice to bob>'
	key alice C-d
	wait_see alice '^-- no longer talking to bob$'
	pid=$(listener alice)
	wait_last alice 'alice>'
	key alice C-d
	typein alice '$' 'echo "status $?"'
	wait_see alice '^status 0$'
	gone "$pid"
	offline alice
}

@test "closing the terminal logs out too" {
	users alice bob
	login alice
	pid=$(listener alice)
	tm kill-server
	gone "$pid"
	offline alice
}
