#!/usr/bin/env bats
# The README's walkthrough stays true: its transcript, between the
# <!-- walkthrough --> markers, is typed into three tmux terminals, and
# what each terminal shows is checked against it, line by line, in order
# (times and port numbers aside).
#
# The transcript's lines, four spaces in:
#   WHO$ COMMAND             a shell command in terminal WHO
#   chat> INPUT              the chat prompt, in the terminal last used
#   NAME> INPUT              NAME's chat prompt, in terminal NAME;
#   NAME to PEER> INPUT      with no INPUT: look at that terminal
#   QUESTION: INPUT          an answer to one of chat's questions
#   anything else            what the terminal last used shows

load helper

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	export CHAT_HOME=$BATS_TEST_TMPDIR/home TZ=UTC
	unset CHAT_USER CHAT_PORT CHAT_SERVER MAKEFLAGS MFLAGS MAKELEVEL
	# Without the build tree on PATH: the walkthrough puts it there.
	PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$ROOT/bin" |
		paste -s -d : -)
	export PATH
	SOCK=$BATS_TEST_TMPDIR/tmux.sock
	SERVER=
	declare -gA POS=()
}

teardown() {
	if tmux -S "$SOCK" has-session -t dir 2>/dev/null; then
		# Ctrl-C stops the directory, as the README says.
		tmux -S "$SOCK" send-keys -t dir C-c
		wait_last dir 'dir$' || true
	fi
	tmux -S "$SOCK" kill-server 2>/dev/null || true
}

tm() {
	tmux -S "$SOCK" "$@"
}

# norm: times and port numbers made alike, spaces at the end dropped.
norm() {
	sed -E 's/([0-9]{4}-[0-9]{2}-[0-9]{2} )?[0-9]{2}:[0-9]{2}/HH:MM/g;
		s/(^|[^0-9])[0-9]{4,5}([^0-9]|$)/\1N\2/g; s/[[:space:]]+$//'
}

screen() {
	tm capture-pane -p -J -t "$1" -S - | norm
}

last() {
	screen "$1" | grep -v '^$' | tail -n 1
}

wait_last() {
	for _ in $(seq 1 160); do
		[ "$(last "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	echo "terminal $1 does not wait at '$2':" >&2
	screen "$1" | grep -v '^$' >&2
	return 1
}

# see TERM LINE [TRIES]: waits until TERM shows LINE below what was seen
# so far, and moves past it.
see() {
	local want n
	want=$(printf '%s\n' "$2" | norm)
	for _ in $(seq 1 "${3:-160}"); do
		n=$(screen "$1" | tail -n +"$((${POS[$1]:-0} + 1))" |
			grep -n -x -F -m 1 -- "$want" | cut -d : -f 1) || true
		if [ -n "$n" ]; then
			POS[$1]=$((${POS[$1]:-0} + n))
			return 0
		fi
		sleep 0.05
	done
	echo "terminal $1 does not show, after line ${POS[$1]:-0}: $2" >&2
	screen "$1" | grep -v '^$' >&2
	return 1
}

# server: the address of the directory the dir terminal started.
server() {
	local port
	if [ -z "$SERVER" ]; then
		for _ in $(seq 1 400); do
			port=$(tm capture-pane -p -J -t dir -S - |
				jq -R 'fromjson? | select(.type == "listening") | .port' |
				head -n 1)
			[ -n "$port" ] && break
			sleep 0.05
		done
		[ -n "$port" ] || { echo "the directory did not start" >&2; return 1; }
		SERVER=http://127.0.0.1:$port
	fi
	printf '%s\n' "$SERVER"
}

# term WHO: terminal WHO, started in the clone, opened the first time.
term() {
	local rc=$BATS_TEST_TMPDIR/rc.$1
	tm has-session -t "$1" 2>/dev/null && return 0
	{
		printf "PS1='%s\$ '\n" "$1"
		if [ "$1" = dir ]; then
			printf "export RUNFLAGS='-q -l 127.0.0.1:0 -d %s'\n" \
				"$BATS_TEST_TMPDIR/chat-dird.db"
		else
			printf "export CHAT_SERVER='%s'\n" "$(server)"
		fi
	} >"$rc" || return 1
	tm new-session -d -s "$1" -x 200 -y 50 -c "$ROOT" "bash --rcfile '$rc' -i"
}

# type_at WHO PROMPT INPUT: waits for PROMPT in WHO, types INPUT, and
# sees it typed.
type_at() {
	wait_last "$1" "$2" || return 1
	tm send-keys -t "$1" -l -- "$3"
	tm send-keys -t "$1" Enter
	see "$1" "$2 $3"
}

# walkthrough: the transcript, from README.md.
walkthrough() {
	sed -n '/^<!-- walkthrough -->$/,/^<!-- \/walkthrough -->$/p' \
		"$ROOT/README.md" | sed -n 's/^    //p'
}

@test "the README has a walkthrough between markers" {
	[ "$(walkthrough | grep -c '\$ ')" -ge 5 ]
}

@test "the README's walkthrough: every command typed, every line shown" {
	local line cur='' who input q
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		if [[ $line =~ ^([a-z]+)\$\ (.*)$ ]]; then
			cur=${BASH_REMATCH[1]}
			term "$cur"
			type_at "$cur" "$cur\$" "${BASH_REMATCH[2]}"
		elif [[ $line =~ ^(chat|([A-Za-z0-9._-]+)( to [A-Za-z0-9._-]+)?)\>( (.*))?$ ]]; then
			who=${BASH_REMATCH[2]:-$cur}
			input=${BASH_REMATCH[5]}
			cur=$who
			[ -n "$input" ] || continue
			type_at "$cur" "${BASH_REMATCH[1]}>" "$input"
		elif [[ $line =~ ^(username|port\ to\ listen\ on|peer)(\ \[[^]]*\])?:\ (.*)$ ]]; then
			q="${BASH_REMATCH[1]}${BASH_REMATCH[2]}:"
			type_at "$cur" "$q" "${BASH_REMATCH[3]}"
		else
			see "$cur" "$line"
		fi
	done < <(walkthrough)
	# The directory's data is where the test put it, not in the clone.
	[ -s "$BATS_TEST_TMPDIR/chat-dird.db" ]
}
