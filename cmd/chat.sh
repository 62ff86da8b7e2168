#!/bin/bash
# chat: the interactive client of the chat toolkit, and one command at a
# time for scripts; everything it does, it does with the chat-* programs.
set -u

USAGE='usage: chat [-s url] [-u name] [command [arg ...]]'
NAME_RE='^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$'
RECENT=10	# messages of history that connect shows

# Formatting of messages for people, shared by every jq program below:
# times in local time (the date too when not today), control characters
# (a peer's escape sequences) made spaces, and YOU for $me.
# shellcheck disable=SC2016
JQ_LIB='
def clean: tostring | gsub("[[:cntrl:]]"; " ");
def when: (.ts | strings | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) as $t
	| $t | strflocaltime(
		if ($t | strflocaltime("%F")) == (now | strflocaltime("%F"))
		then "%H:%M" else "%F %H:%M" end);
def who: if (.from | ascii_downcase) == ($me | ascii_downcase)
	then "YOU" else (.from | clean) end;
def line: ((first(try when catch empty) // "") + " [" + who + "]: " +
	(.text | clean)) | ltrimstr(" ");
'

opt_server=	# -s
opt_user=	# -u
# The state of a login: the user, the processes and descriptors of the
# programs working for it.
ME=
LISTEN_PID=
FILER_PID=
WATCH_PID=
LOCK_FD=
SEND_FD=
ERR_SEEN=0	# lines of chat-listen's diagnostics shown
SEND_PID=
SENT=0		# lines given to chat-send
REPORT_PID=
TMPD=
INTERACTIVE=0

warn() {
	printf 'chat: %s\n' "$*" >&2
}

usage() {
	printf '%s\n' "$USAGE" >&2
	exit 64
}

help() {
	cat <<EOF
$USAGE
  -s, --server URL  the directory (else CHAT_SERVER)
  -u, --user NAME   the user (else CHAT_USER)
  -h, --help        this help
      --version     the version
Without a command, a prompt; its commands:
  register [name [port]]  register a user with the directory
  login [name]            go online; file incoming messages per friend
  connect [peer]          chat: every line is sent, until "exit" or "/end"
  show chat [peer]        print the conversation, then new messages live
  end chat [peer]         stop showing a peer's messages live
  status                  friends, * by those with new messages, who is online
  logout                  go offline
  exit                    log out and leave
  help                    this list
Commands for scripts (each prints what the program it runs prints):
  register name port, login [name], status, send peer [text ...],
  connect peer, history [peer], show chat peer, peers [name ...],
  friends [add name ...], listen
EOF
}

version() {
	local v
	v=$(chat-peers --version 2>/dev/null) || v="chat-peers unknown"
	printf 'chat %s\n' "${v##* }"
}

user_setting() {
	printf '%s' "${opt_user:-${CHAT_USER:-}}"
}

server_url() {
	printf '%s' "${CHAT_SERVER:-http://127.0.0.1:8000}"
}

# Where things are kept: names in lower case, as the directory matches
# them regardless of case.
box_dir() { printf '%s/box/%s' "$CHAT_HOME" "${1,,}"; }
new_dir() { printf '%s/new/%s' "$CHAT_HOME" "${1,,}"; }
session_dir() { printf '%s/session/%s' "$CHAT_HOME" "${1,,}"; }

# cache_users: adds the names on stdin to the cache that completion reads.
cache_users() {
	local f=$CHAT_HOME/users tmp
	mkdir -p "$CHAT_HOME" || return 0
	tmp=$(mktemp "$f.XXXXXX") || return 0
	{
		[[ -r $f ]] && cat "$f"
		cat
	} | grep -E "$NAME_RE" | sort -f -u >"$tmp" && mv -f "$tmp" "$f"
	rm -f "$tmp"
}

# cache_json: the usernames of the JSON lines on stdin, into the cache.
cache_json() {
	jq -r '.username? // empty' 2>/dev/null | cache_users
}

# call PROG [ARG...]: runs a program for the prompt; its output in OUT, its
# diagnostics in ERR; returns its exit status.
call() {
	local rc
	OUT=$("$@" 2>"$TMPD/err")
	rc=$?
	ERR=$(<"$TMPD/err")
	return "$rc"
}

# complain STATUS [NAME]: says clearly why the program just called failed.
complain() {
	case $1 in
	67) warn "${2:-a name}: no such user" ;;
	69) warn "cannot reach the directory at $(server_url) (is chat-dird running?)" ;;
	75) warn "the directory is busy; try again in a moment" ;;
	*)
		if [[ -n $ERR ]]; then
			warn "${ERR##*$'\n'}"
		else
			warn "failed with exit status $1"
		fi
		;;
	esac
}

# say TEXT: a line to the terminal while the prompt may be waiting; the
# prompt is written again after it (what was typed stays in the line
# editor, and Ctrl-L shows it again).
say() {
	local p=
	if [[ -t 1 ]]; then
		[[ -n $TMPD ]] && p=$(cat "$TMPD/prompt" 2>/dev/null)
		printf '\r\e[K%s\n%s' "$1" "$p"
	else
		printf '%s\n' "$1"
	fi
}

# ask VAR PROMPT: one line from the person, with line editing.
ask() {
	local rc
	printf '%s' "$2" >"$TMPD/prompt"
	IFS= read -r -e -p "$2" "$1"
	rc=$?
	: >"$TMPD/prompt"
	return "$rc"
}

# end_line: after Ctrl-D, the next output starts on a line of its own.
end_line() {
	[[ -t 0 ]] && echo
	return 0
}

# trim TEXT: without the spaces around it.
trim() {
	local t=${1#"${1%%[![:space:]]*}"}
	printf '%s' "${t%"${t##*[![:space:]]}"}"
}

# ask_name VAR WHAT DEFAULT: asks for a username unless VAR already has one;
# checks its form.
ask_name() {
	local -n ask_ref=$1
	local q="$2: "
	if [[ -z $ask_ref ]]; then
		[[ -n $3 ]] && q="$2 [$3]: "
		ask ask_ref "$q" || { end_line; return 1; }
		ask_ref=$(trim "$ask_ref")
		[[ -n $ask_ref ]] || ask_ref=$3
	fi
	if [[ -z $ask_ref ]]; then
		warn "no $2 given"
		return 1
	fi
	if ! [[ $ask_ref =~ $NAME_RE ]]; then
		warn "$ask_ref: not a username (1 to 50 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
		return 1
	fi
}

need_login() {
	if [[ -z $ME ]]; then
		warn "not logged in: type login first"
		return 1
	fi
}

# wait_gone PID SECONDS: waits for a child to end, then TERM, then KILL.
wait_gone() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 40; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# The filer: chat-listen's lines in, each message appended to the box of
# its sender and flagged as new, unless the prompt shows it live.

# file_messages MODE USER: reads chat-listen's output. MODE tty: shows the
# messages of live peers on the terminal; MODE listen: passes every line
# through to stdout.
file_messages() {
	local mode=$1 me=$2 box new s kind peer from uid msg text raw
	box=$(box_dir "$me")
	new=$(new_dir "$me")
	s=$(session_dir "$me")
	jq --unbuffered -R -r --arg me "$me" "$JQ_LIB"'
		. as $raw | (fromjson? // {}) |
		if .type == "listening" then
			["listening", "-", "-", "-", (.port | tostring), "-"]
		elif .type == "message" and (.from | type) == "string" and
			(.uid | type) == "string" then
			["message", (.from | ascii_downcase), .from, .uid,
			 (del(.type, .offline) | tojson), line]
		else ["other", "-", "-", "-", "-", "-"] end |
		. + [$raw] | join("\t")' |
		while IFS=$'\t' read -r kind peer from uid msg text raw; do
			if [[ $mode == listen ]]; then
				printf '%s\n' "$raw" || exit 74
			fi
			case $kind in
			listening)
				printf '%s\n' "$msg" >"$s/port"
				;;
			message)
				[[ $peer =~ $NAME_RE ]] || continue
				printf '%s\n' "$msg" >>"$box/$peer.jsonl"
				if [[ $mode == tty && -e $s/live/$peer ]]; then
					say "$text"
					continue
				fi
				if [[ $mode == tty && ! -s $new/$peer ]]; then
					say "* new message from $from (show chat $from)"
				fi
				printf '%s\n' "$uid" >>"$new/$peer"
				;;
			esac
		done
}

# wait_registered NAME PORT: waits a little for chat-listen to register
# NAME at PORT, so that who is told "logged in" can be reached.
wait_registered() {
	local i
	for ((i = 0; i < 50; i++)); do
		chat-peers --online "$1" 2>/dev/null |
			jq -e --argjson p "$2" '.port == $p' >/dev/null && return 0
		kill -0 "$LISTEN_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# watch_main MAIN LISTENER TICK: stops the listener when this chat is gone
# without stopping it (killed with SIGKILL, say), so that nothing is left
# running; checks once a second, or when TICK is written to.
watch_main() {
	local t
	exec {t}<>"$3"
	while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do
		read -r -t 1 -u "$t" _
	done
	if ! kill -0 "$1" 2>/dev/null; then
		kill -TERM "$2" 2>/dev/null
	fi
}

# stop_watch DIR: the watch ends, its listener being gone.
stop_watch() {
	[[ -n $WATCH_PID ]] || return 0
	# Opened for reading and writing, a FIFO never blocks.
	echo 1<>"$1/tick"
	wait_gone "$WATCH_PID" 2
	WATCH_PID=
}

# session_start NAME PORT MODE: takes NAME's lock, starts chat-listen (on
# PORT, else on any free port) with the filer in MODE and the watch; sets
# LISTEN_PID, FILER_PID, WATCH_PID. Returns once NAME can be reached, or
# like chat-listen when it cannot listen.
session_start() {
	local name=$1 port=$2 mode=$3 s lock i rc
	s=$(session_dir "$name")
	mkdir -p "$CHAT_HOME/session" "$(box_dir "$name")" \
		"$(new_dir "$name")" || return 74
	lock=$CHAT_HOME/session/${name,,}.lock
	exec {LOCK_FD}>>"$lock" || return 74
	if ! flock -n "$LOCK_FD"; then
		exec {LOCK_FD}>&-
		LOCK_FD=
		warn "$name is logged in already, by another chat using $CHAT_HOME"
		return 75
	fi
	while :; do
		rm -rf "$s"
		mkdir -p "$s/live" && mkfifo "$s/listen" "$s/tick" || return 74
		(
			trap '' HUP
			file_messages "$mode" "$name"
		) <"$s/listen" &
		FILER_PID=$!
		# Its diagnostics: at the prompt, shown before the next prompt;
		# else on the standard error.
		(
			trap '' HUP
			[[ $mode == tty ]] && exec 2>"$s/listen.err"
			exec env CHAT_PORT="$port" chat-listen -u "$name"
		) >"$s/listen" &
		LISTEN_PID=$!
		printf '%s\n' "$LISTEN_PID" >"$s/listen.pid"
		(
			trap '' HUP INT TERM
			watch_main "$$" "$LISTEN_PID" "$s/tick"
		) &
		WATCH_PID=$!
		for ((i = 0; i < 200; i++)); do
			if [[ -s $s/port ]]; then
				wait_registered "$name" "$(<"$s/port")"
				return 0
			fi
			kill -0 "$LISTEN_PID" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$LISTEN_PID" 2>/dev/null; then
			warn "chat-listen did not start listening in 10 s"
			kill -TERM "$LISTEN_PID"
			wait_gone "$LISTEN_PID" 5
			rc=69
		else
			wait "$LISTEN_PID"
			rc=$?
		fi
		LISTEN_PID=
		wait_gone "$FILER_PID" 2
		FILER_PID=
		stop_watch "$s"
		# It could not listen on the registered port, as it exits 69
		# before its first line for nothing else: any free port will do,
		# as chat-listen registers the port it gets.
		if [[ -n $port && $rc == 69 && ! -s $s/port ]]; then
			[[ $mode == tty ]] && cat "$s/listen.err" >&2
			warn "cannot listen on port $port; listening on another"
			port=
			continue
		fi
		session_end "$name"
		((rc)) || rc=69
		return "$rc"
	done
}

# session_end NAME: stops chat-listen (it logs out), waits for the filer,
# lets go of the lock; returns chat-listen's status.
session_end() {
	local name=$1 rc=0 s
	s=$(session_dir "$name")
	if [[ -n $LISTEN_PID ]]; then
		kill -TERM "$LISTEN_PID" 2>/dev/null
		wait_gone "$LISTEN_PID" 10
		rc=$?
		LISTEN_PID=
	fi
	if [[ -n $FILER_PID ]]; then
		wait_gone "$FILER_PID" 2
		FILER_PID=
	fi
	stop_watch "$s"
	ERR=$(cat "$s/listen.err" 2>/dev/null)
	rm -rf "$s"
	if [[ -n $LOCK_FD ]]; then
		exec {LOCK_FD}>&-
		LOCK_FD=
	fi
	return "$rc"
}

# The prompt's commands.

cmd_register() {
	local name=${1:-} port=${2:-} created
	ask_name name username "$(user_setting)" || return
	if [[ -z $port ]]; then
		if [[ -n ${CHAT_PORT:-} ]]; then
			ask port "port to listen on [$CHAT_PORT]: " || { end_line; return; }
			port=${port:-$CHAT_PORT}
		else
			ask port "port to listen on: " || { end_line; return; }
		fi
		port=$(trim "$port")
	fi
	if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
		warn "${port:-(none)}: not a port (1 to 65535)"
		return
	fi
	call chat-register -u "$name" -p "$((10#$port))" || { complain $? "$name"; return; }
	printf '%s\n' "$name" | cache_users
	created=$(jq -r 'if .created then "registered" else "updated" end' <<<"$OUT")
	jq -r --arg c "$created" '"\($c) \(.username) at \(.ip) port \(.port)"' <<<"$OUT"
}

cmd_login() {
	local name=${1:-} port rc s
	if [[ -n $ME ]]; then
		warn "logged in as $ME already: logout first"
		return
	fi
	ask_name name username "$(user_setting)" || return
	call chat-peers "$name"
	rc=$?
	if ((rc == 67)); then
		warn "$name is not registered: register it first"
		return
	elif ((rc != 0)); then
		complain "$rc" "$name"
		return
	fi
	name=$(jq -r .username <<<"$OUT")
	port=${CHAT_PORT:-$(jq -r .port <<<"$OUT")}
	session_start "$name" "$port" tty
	rc=$?
	if ((rc != 0)); then
		((rc == 75)) || complain "$rc" "$name"
		return
	fi
	ME=$name
	ERR_SEEN=0
	s=$(session_dir "$ME")
	printf 'logged in as %s, listening on port %s\n' "$ME" "$(<"$s/port")"
	printf '%s\n' "$ME" | cache_users
	if call chat-friends -u "$ME"; then
		cache_json <<<"$OUT"
		if [[ -n $OUT ]]; then
			jq -r '"\(.username)\(if .online then " (online)" else "" end)"' \
				<<<"$OUT" | paste -s -d , - | sed 's/,/, /g; s/^/friends: /'
		else
			echo "no friends yet: connect adds one"
		fi
	else
		complain $?
	fi
	report_new
}

# new_counts: {"peer": number of new messages, ...} of ME.
new_counts() {
	local f sep=
	printf '{'
	for f in "$(new_dir "$ME")"/*; do
		[[ -s $f ]] || continue
		printf '%s"%s":%d' "$sep" "${f##*/}" "$(wc -l <"$f")"
		sep=,
	done
	printf '}'
}

# report_new: one line naming the peers with new messages, if any.
report_new() {
	local f list=
	for f in "$(new_dir "$ME")"/*; do
		[[ -s $f ]] || continue
		list+="${list:+, }${f##*/} ($(wc -l <"$f"))"
	done
	[[ -z $list ]] || printf 'new messages from: %s\n' "$list"
}

cmd_logout() {
	local rc
	need_login || return
	session_end "$ME"
	rc=$?
	if ((rc != 0)); then
		warn "chat-listen ended with status $rc"
	fi
	if [[ $ERR == *'logging out'* ]]; then
		warn "the directory did not hear the logout; you show offline once its presence window passes"
	fi
	printf 'logged out %s\n' "$ME"
	ME=
}

# check_listener: shows chat-listen's new warnings once; tells when it
# stopped on its own, and ends the session.
check_listener() {
	local s n
	[[ -n $ME ]] || return 0
	s=$(session_dir "$ME")
	n=$(wc -l <"$s/listen.err" 2>/dev/null) || n=0
	if ((n > ERR_SEEN)); then
		tail -n "$((n - ERR_SEEN))" "$s/listen.err" >&2
		ERR_SEEN=$n
	fi
	if ! kill -0 "$LISTEN_PID" 2>/dev/null; then
		warn "chat-listen stopped; you are logged out"
		session_end "$ME"
		ME=
	fi
}

# print_history JSONLINES: the messages as [YOU]: text / [peer]: text.
print_history() {
	[[ -n $1 ]] || return 0
	jq -r --arg me "$ME" "$JQ_LIB"'line' <<<"$1"
}

clear_flag() {
	rm -f "$(new_dir "$ME")/${1,,}"
}

cmd_show() {
	local what=${1:-} peer=${2:-} rc live
	if [[ $what != chat ]]; then
		warn "show what? show chat [peer]"
		return
	fi
	need_login || return
	ask_name peer peer "" || return
	live=$(session_dir "$ME")/live/${peer,,}
	: >"$live"
	call chat-history -u "$ME" "$peer"
	rc=$?
	if ((rc != 0)); then
		rm -f "$live"
		complain "$rc" "$peer"
		return
	fi
	clear_flag "$peer"
	if [[ -z $OUT ]]; then
		printf 'no messages with %s yet\n' "$peer"
	else
		print_history "$OUT"
	fi
	printf -- '-- live: new messages from %s show here (end chat %s stops it)\n' "$peer" "$peer"
}

cmd_end() {
	local what=${1:-} peer=${2:-} live
	if [[ $what != chat ]]; then
		warn "end what? end chat [peer]"
		return
	fi
	need_login || return
	ask_name peer peer "" || return
	live=$(session_dir "$ME")/live/${peer,,}
	if [[ -e $live ]]; then
		rm -f "$live"
		printf 'no longer live: %s\n' "$peer"
	else
		printf '%s was not live\n' "$peer"
	fi
}

cmd_status() {
	local counts rc online=
	need_login || return
	counts=$(new_counts)
	call chat-friends -u "$ME"
	rc=$?
	if ((rc != 0)); then
		complain "$rc"
		report_new
		return
	fi
	cache_json <<<"$OUT"
	printf 'friends of %s (* new messages):\n' "$ME"
	jq -r -n --argjson new "$counts" '
		[inputs] as $f |
		($f | map(.username | ascii_downcase)) as $known |
		($f + [$new | keys[] | select(. as $k | $known | index($k) | not) |
			{username: ., online: null}])[] |
		($new[.username | ascii_downcase] // 0) as $n |
		(if $n > 0 then "* " else "  " end) +
		(.username + "                    ")[:20] +
		(if .online == true then "online " elif .online == false then
			"offline" else "(not a friend)" end) +
		(if $n > 0 then "  \($n) new" else "" end)' <<<"$OUT"
	[[ -n $OUT || $counts != '{}' ]] || echo "  none yet: connect adds one"
	if call chat-peers --online; then
		cache_json <<<"$OUT"
		online=$(jq -r .username <<<"$OUT" | paste -s -d , - | sed 's/,/, /g')
		printf 'online now: %s\n' "${online:-nobody}"
	else
		complain $?
	fi
}

# report_sends PEER DIR: chat-send's lines in (its reports and its
# diagnostics); tells the person what did not reach PEER at once. Counts
# the reports in DIR/reported, and marks DIR/undelivered.
report_sends() {
	local peer=$1 dir=$2 line d s
	while IFS= read -r line; do
		if [[ $line == '{'* ]]; then
			echo >>"$dir/reported"
			read -r d s < <(jq -r '"\(.delivered) \(.stored)"' <<<"$line")
			if [[ $d == true ]]; then
				continue
			elif [[ $s == true ]]; then
				: >"$dir/undelivered"
				say "(not delivered now: stored; $peer gets it at the next login)"
			else
				say "(NOT SENT: neither delivered nor stored)"
			fi
		elif [[ $line == *': closed the connection' ]]; then
			say "($peer closed the connection)"
		elif [[ $line != *'is offline; storing the messages for later' &&
			$line != *'cannot deliver directly; storing the messages for later' ]]; then
			say "${line//[[:cntrl:]]/ }"
		fi
	done
}

start_sender() {
	local peer=$1 s
	s=$(session_dir "$ME")
	rm -f "$s/send.in" "$s/send.out" "$s/undelivered" "$s/reported"
	mkfifo "$s/send.in" "$s/send.out" || return 1
	: >"$s/reported"
	SENT=0
	(
		trap '' HUP
		report_sends "$peer" "$s"
	) <"$s/send.out" &
	REPORT_PID=$!
	(
		trap '' HUP INT
		exec chat-send -u "$ME" "$peer"
	) <"$s/send.in" >"$s/send.out" 2>&1 &
	SEND_PID=$!
	exec {SEND_FD}>"$s/send.in"
}

# stop_sender: ends the input of chat-send and waits for it to report
# every message. One that lost its peer tries to reconnect for a while
# even with nothing left to send; then it is stopped.
stop_sender() {
	local i reported
	[[ -n $SEND_PID ]] || return 0
	if [[ -n $SEND_FD ]]; then
		exec {SEND_FD}>&-
		SEND_FD=
	fi
	for ((i = 0; i < 300; i++)); do
		kill -0 "$SEND_PID" 2>/dev/null || break
		reported=$(wc -l <"$(session_dir "$ME")/reported" 2>/dev/null) || reported=0
		if ((i >= 10 && reported >= SENT)); then
			kill -TERM "$SEND_PID" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait_gone "$SEND_PID" 1
	wait_gone "$REPORT_PID" 2
	SEND_PID=
	REPORT_PID=
}

cmd_connect() {
	local peer=${1:-} rc online live was_live line prompt s
	need_login || return
	ask_name peer peer "" || return
	call chat-peers "$peer"
	rc=$?
	if ((rc != 0)); then
		complain "$rc" "$peer"
		return
	fi
	peer=$(jq -r .username <<<"$OUT")
	online=$(jq -r .online <<<"$OUT")
	if call chat-friends -u "$ME" add "$peer"; then
		if [[ $(jq -r .created <<<"$OUT") == true ]]; then
			printf '%s is now a friend\n' "$peer"
			printf '%s\n' "$peer" | cache_users
		fi
	else
		complain $? "$peer"
		return
	fi
	if call chat-history -u "$ME" -n "$RECENT" "$peer"; then
		print_history "$OUT"
	else
		complain $? "$peer"
	fi
	clear_flag "$peer"
	if [[ $online != true ]]; then
		printf '%s is offline: what you type is stored, and %s gets it at the next login\n' \
			"$peer" "$peer"
	fi
	s=$(session_dir "$ME")
	live=$s/live/${peer,,}
	was_live=0
	[[ -e $live ]] && was_live=1
	: >"$live"
	start_sender "$peer" || { warn "cannot start chat-send"; return; }
	printf -- '-- talking to %s; a line "exit" or "/end" ends it\n' "$peer"
	prompt="$ME to $peer> "
	while ask line "$prompt"; do
		[[ $line == exit || $line == /end ]] && break
		[[ -n ${line//[[:space:]]/} ]] || continue
		history -s -- "$line"
		# Not delivered last time: the peer may be back, and a new
		# chat-send looks it up again.
		if [[ -e $s/undelivered ]] ||
			! kill -0 "$SEND_PID" 2>/dev/null; then
			rm -f "$s/undelivered"
			stop_sender
			start_sender "$peer" || { warn "cannot start chat-send"; break; }
		fi
		if { printf '%s\n' "$line" >&"$SEND_FD"; } 2>/dev/null; then
			((SENT++))
		else
			warn "chat-send stopped; that line was not sent"
		fi
		check_listener
		[[ -n $ME ]] || break
	done
	stop_sender
	[[ -n $ME ]] || return
	((was_live)) || rm -f "$live"
	printf -- '-- no longer talking to %s\n' "$peer"
}

# prompt: the interactive client.
prompt() {
	local line cmd hist
	local -a args
	INTERACTIVE=1
	trap '' PIPE
	# A second signal must not cut the cleanup short.
	trap 'trap "" INT TERM HUP; exit 130' INT
	trap 'trap "" INT TERM HUP; exit 143' TERM
	trap 'trap "" INT TERM HUP; exit 129' HUP
	# The commands typed are kept, the last 500; the messages are not.
	hist=$CHAT_HOME/history
	mkdir -p "$CHAT_HOME" 2>/dev/null
	if [[ -f $hist ]] && (($(wc -l <"$hist") > 1000)); then
		tail -n 500 "$hist" >"$hist.new" && mv -f "$hist.new" "$hist"
	fi
	history -r "$hist" 2>/dev/null
	if [[ -t 0 ]]; then
		echo "chat: type help for the commands"
	fi
	while :; do
		check_listener
		if ! ask line "${ME:-chat}> "; then
			end_line
			break
		fi
		read -r -a args <<<"$line"
		((${#args[@]})) || continue
		history -s -- "$line"
		printf '%s\n' "$line" >>"$hist" 2>/dev/null
		cmd=${args[0]}
		args=("${args[@]:1}")
		case $cmd in
		register) cmd_register "${args[@]}" ;;
		login) cmd_login "${args[@]}" ;;
		connect) cmd_connect "${args[@]}" ;;
		show) cmd_show "${args[@]}" ;;
		end) cmd_end "${args[@]}" ;;
		status) cmd_status ;;
		logout) cmd_logout ;;
		exit) break ;;
		help) help | sed -n '/^Without/,/^  help/p' | tail -n +2 ;;
		*) warn "$cmd: no such command (help lists them)" ;;
		esac
	done
	exit 0
}

# cleanup: on the way out, whatever way that is, nothing is left running.
# shellcheck disable=SC2317 # the EXIT trap calls it
cleanup() {
	trap '' INT TERM HUP
	if ((INTERACTIVE)); then
		stop_sender
		if [[ -n $ME ]]; then
			session_end "$ME"
			printf 'logged out %s\n' "$ME" 2>/dev/null
			ME=
		fi
	fi
	[[ -n $TMPD ]] && rm -rf "$TMPD"
}

# The commands for scripts.

# one_user: the user for a command for scripts, or exit 64.
one_user() {
	ME=$(user_setting)
	if [[ -z $ME ]]; then
		warn "no user: give -u or set CHAT_USER"
		exit 64
	fi
}

one_status() {
	local counts rc
	one_user
	counts=$(new_counts)
	OUT=$(chat-friends -u "$ME")
	rc=$?
	[[ -n $OUT ]] || return "$rc"
	cache_json <<<"$OUT"
	jq -c --argjson new "$counts" \
		'. + {new: ($new[.username | ascii_downcase] // 0)}' <<<"$OUT" || return 74
	return "$rc"
}

# one_listen: chat-listen in the foreground, its messages filed as login
# files them, its lines passed through.
one_listen() {
	local rc out
	one_user
	out=$(chat-peers "$ME")
	rc=$?
	((rc == 0)) || return "$rc"
	ME=$(jq -r .username <<<"$out")
	trap '[[ -n $LISTEN_PID ]] && kill -TERM "$LISTEN_PID" 2>/dev/null' INT TERM HUP
	session_start "$ME" "${CHAT_PORT:-$(jq -r .port <<<"$out")}" listen || return
	printf '%s\n' "$ME" | cache_users
	while :; do
		wait "$LISTEN_PID"
		rc=$?
		kill -0 "$LISTEN_PID" 2>/dev/null || break
	done
	wait_gone "$FILER_PID" 2
	LISTEN_PID=
	FILER_PID=
	session_end "$ME"
	return "$rc"
}

# run_and_cache PROG [ARG...]: runs it, output passed through and its
# usernames cached; its exit status.
run_and_cache() {
	local f rc
	f=$(mktemp) || return 70
	"$@" | tee "$f"
	rc=${PIPESTATUS[0]}
	cache_json <"$f"
	rm -f "$f"
	return "$rc"
}

one_command() {
	local cmd=$1 rc
	shift
	case $cmd in
	help | -h | --help) help ;;
	register)
		local name=${1:-$(user_setting)} port=${2:-${CHAT_PORT:-}}
		if [[ -z $name || -z $port || $# -gt 2 ]]; then
			warn "register: give a name and a port (or -u, CHAT_PORT)"
			exit 64
		fi
		run_and_cache chat-register -u "$name" -p "$port"
		;;
	login)
		[[ $# -le 1 ]] || usage
		[[ -z ${1:-} ]] || opt_user=$1
		one_user
		run_and_cache chat-peers "$ME"
		;;
	status)
		[[ $# -eq 0 ]] || usage
		one_status
		;;
	send)
		one_user
		chat-send -u "$ME" "$@"
		;;
	connect)
		[[ $# -eq 1 ]] || usage
		one_user
		chat-send -u "$ME" "$1"
		;;
	history)
		one_user
		chat-history -u "$ME" "$@"
		;;
	show)
		[[ $# -eq 2 && $1 == chat ]] || usage
		one_user
		chat-history -u "$ME" "$2"
		rc=$?
		((rc == 0)) && rm -f "$(new_dir "$ME")/${2,,}"
		return "$rc"
		;;
	peers) run_and_cache chat-peers "$@" ;;
	friends)
		one_user
		run_and_cache chat-friends -u "$ME" "$@"
		;;
	listen)
		[[ $# -eq 0 ]] || usage
		one_listen
		;;
	logout | exit | end)
		warn "$cmd: only at the chat prompt (run chat without a command)"
		exit 64
		;;
	*)
		warn "$cmd: no such command (chat --help lists them)"
		exit 64
		;;
	esac
}

main() {
	local here
	# The programs next to this one come first, so that a build tree
	# works without installing.
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" 2>/dev/null && pwd)
	[[ -n $here && -x $here/chat-send ]] && PATH=$here:$PATH
	while (($#)); do
		case $1 in
		-s | --server)
			(($# >= 2)) || usage
			opt_server=$2
			shift
			;;
		--server=*) opt_server=${1#*=} ;;
		-s?*) opt_server=${1#-s} ;;
		-u | --user)
			(($# >= 2)) || usage
			opt_user=$2
			shift
			;;
		--user=*) opt_user=${1#*=} ;;
		-u?*) opt_user=${1#-u} ;;
		-h | --help)
			help
			exit 0
			;;
		--version)
			version
			exit 0
			;;
		--)
			shift
			break
			;;
		-*) usage ;;
		*) break ;;
		esac
		shift
	done
	[[ -n $opt_server ]] && export CHAT_SERVER=$opt_server
	if [[ -z ${CHAT_HOME:-} ]]; then
		if [[ ${XDG_STATE_HOME:-} == /* ]]; then
			CHAT_HOME=$XDG_STATE_HOME/chat
		elif [[ -n ${HOME:-} ]]; then
			CHAT_HOME=$HOME/.local/state/chat
		else
			warn "no CHAT_HOME and no HOME to keep state in"
			exit 64
		fi
	fi
	export CHAT_HOME
	TMPD=$(mktemp -d "${TMPDIR:-/tmp}/chat.XXXXXX") || exit 70
	trap cleanup EXIT
	if (($# == 0)); then
		prompt
	fi
	one_command "$@"
	exit
}

main "$@"
