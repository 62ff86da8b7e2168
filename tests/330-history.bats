#!/usr/bin/env bats
# chat-history: conversations and inboxes, oldest first, paged in constant
# memory; --after, -n, and -f following new messages, against a real
# chat-dird.

bats_require_minimum_version 1.5.0

load helper

setup() {
	start_dird
	unset CHAT_USER CHAT_TIMEOUT
	for u in alice bob carol; do reg "$u"; done
	FOLLOW_PID=
}
teardown() {
	if [ -n "$FOLLOW_PID" ]; then
		kill "$FOLLOW_PID" 2>/dev/null || true
		wait "$FOLLOW_PID" 2>/dev/null || true
	fi
	stop_dird
}

# reg NAME: registers NAME through the API.
reg() {
	api POST /register "{\"username\":\"$1\",\"ip\":\"127.0.0.1\",\"port\":5000}"
	case $status_code in 200 | 201) ;; *) echo "reg $1: $status_code $body" >&2; return 1 ;; esac
}

# msg FROM TO TEXT: stores one message through the API.
msg() {
	api POST /message/create/ "$(jq -nc --arg s "$1" --arg r "$2" --arg c "$3" \
		'{sender: $s, receiver: $r, content: $c}')"
	case $status_code in 200 | 201) ;; *) echo "msg: $status_code $body" >&2; return 1 ;; esac
}

# texts: the texts of the JSON lines in $output, space-separated.
texts() {
	printf '%s\n' "$output" | jq -r .text | tr '\n' ' '
}

# follow ARGS...: starts chat-history -f ARGS in the background, its
# output in $BATS_TEST_TMPDIR/f.out and f.err; sets FOLLOW_PID.
follow() {
	chat-history -f "$@" >"$BATS_TEST_TMPDIR/f.out" 2>"$BATS_TEST_TMPDIR/f.err" 3>&- &
	FOLLOW_PID=$!
}

# wait_lines N: waits up to 10 s for N lines in f.out.
wait_lines() {
	local i
	for i in $(seq 1 100); do
		[ "$(wc -l <"$BATS_TEST_TMPDIR/f.out")" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "wanted $1 lines, have:" >&2
	cat "$BATS_TEST_TMPDIR/f.out" "$BATS_TEST_TMPDIR/f.err" >&2
	return 1
}

# stop_follow SIG: sends SIG and waits up to 5 s; sets $follow_rc.
stop_follow() {
	local i
	kill -s "$1" "$FOLLOW_PID"
	for i in $(seq 1 50); do
		kill -0 "$FOLLOW_PID" 2>/dev/null || break
		sleep 0.1
	done
	follow_rc=0
	wait "$FOLLOW_PID" || follow_rc=$?
	FOLLOW_PID=
}

@test "a conversation: both ways, oldest first, messages with \"text\"" {
	msg alice bob one
	msg bob alice two
	msg carol bob other
	msg alice carol other
	msg alice bob three
	run --separate-stderr chat-history -u alice bob
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(texts)" = "one two three " ]
	printf '%s\n' "$output" | jq -e 'keys_unsorted == ["id","uid","from","to","text","ts"]'
	printf '%s\n' "${lines[1]}" | jq -e '.from == "bob" and .to == "alice" and (.uid | length) > 0'
	[ "$(printf '%s\n' "$output" | jq -c .)" = "$output" ]
	# the same conversation seen from the other side
	run chat-history -u bob alice
	[ "$(texts)" = "one two three " ]
}

@test "without a peer: the inbox, every message to the user, oldest first" {
	msg alice bob a1
	msg bob alice b1
	msg carol bob c1
	msg bob bob note
	run chat-history -u bob
	[ "$status" -eq 0 ]
	[ "$(texts)" = "a1 c1 note " ]
	printf '%s\n' "$output" | jq -e '.to == "bob"'
}

@test "no messages: nothing printed, exit 0" {
	run --separate-stderr chat-history -u alice bob
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
}

@test "texts come out as they went in" {
	local t
	for t in 'say "hi"' 'back\slash' $'two\nlines' $'tab\there' 'ünïcödé ✓ 😀' ''; do
		msg alice bob "$t"
	done
	run chat-history -u bob alice
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 6 ]
	run jq -s -c 'map(.text)' <<<"$output"
	[ "$output" = '["say \"hi\"","back\\slash","two\nlines","tab\there","ünïcödé ✓ 😀",""]' ]
}

@test "--after ID: only later messages" {
	for i in 1 2 3 4 5; do msg alice bob "m$i"; done
	run chat-history -u alice bob
	local id3
	id3=$(printf '%s\n' "${lines[2]}" | jq .id)
	run chat-history -u alice --after "$id3" bob
	[ "$status" -eq 0 ]
	[ "$(texts)" = "m4 m5 " ]
	run chat-history -u bob --after 0
	[ "$(texts)" = "m1 m2 m3 m4 m5 " ]
	run chat-history -u bob --after 999999
	[ -z "$output" ]
}

@test "-n COUNT keeps the newest COUNT, as tail -n does; also with --after" {
	for i in 1 2 3 4 5; do msg alice bob "m$i"; done
	run chat-history -u alice -n 2 bob
	[ "$(texts)" = "m4 m5 " ]
	run chat-history -u alice --last 3 bob
	[ "$(texts)" = "m3 m4 m5 " ]
	run chat-history -u bob -n 10
	[ "$(texts)" = "m1 m2 m3 m4 m5 " ]
	run --separate-stderr chat-history -u bob -n 0
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	local id1
	id1=$(chat-history -u bob -n 5 | head -n 1 | jq .id)
	run chat-history -u bob --after $((id1 + 3)) -n 2
	[ "$(texts)" = "m5 " ]
	run chat-history -u bob --after "$id1" -n 2
	[ "$(texts)" = "m4 m5 " ]
}

@test "-n larger than a page: the newest COUNT across pages, in order" {
	local f=$BATS_TEST_TMPDIR/batch.json
	jq -nc '{messages: [range(1; 2501) | {sender: "alice", receiver: "bob", content: "m\(.)"}]}' >"$f"
	curl -s -f -o /dev/null -H 'Content-Type: application/json' \
		--data-binary "@$f" "$CHAT_SERVER/message/create/"
	run chat-history -u bob -n 1500
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1500 ]
	[ "$(printf '%s\n' "${lines[0]}" | jq -r .text)" = m1001 ]
	[ "$(printf '%s\n' "${lines[1499]}" | jq -r .text)" = m2500 ]
}

@test "names are matched regardless of case" {
	msg alice bob hello
	run chat-history -u ALICE Bob
	[ "$status" -eq 0 ]
	[ "$(texts)" = "hello " ]
}

@test "an unknown user or peer: 67 and its name on stderr" {
	run --separate-stderr chat-history -u alice ghost
	[ "$status" -eq 67 ]
	[ -z "$output" ]
	[ "$stderr" = "chat-history: ghost: no such peer" ]
	run --separate-stderr chat-history -u ghost alice
	[ "$status" -eq 67 ]
	[ "$stderr" = "chat-history: ghost: no such peer" ]
	run --separate-stderr chat-history -u ghost
	[ "$status" -eq 67 ]
	[ "$stderr" = "chat-history: ghost: no such peer" ]
	run chat-history -u ghost -f
	[ "$status" -eq 67 ]
}

@test "all of a 100,000-message conversation, in order, in constant memory" {
	# A sanitizer reserves terabytes of shadow address space.
	[ -z "${ASAN_OPTIONS:-}" ] || skip "address-space limit under a sanitizer"
	stop_dird
	start_dird --max-body 33554432
	reg alice
	reg bob
	local b
	for b in $(seq 0 9); do
		jq -nc --argjson b "$b" '{messages: [range($b * 10000 + 1; $b * 10000 + 10001) |
			{sender: (if . % 3 == 0 then "bob" else "alice" end),
			 receiver: (if . % 3 == 0 then "alice" else "bob" end),
			 content: "m\(.) \("x" * 150)"}]}' >"$BATS_TEST_TMPDIR/b.json"
		curl -s -f -o /dev/null -H 'Content-Type: application/json' \
			--data-binary "@$BATS_TEST_TMPDIR/b.json" "$CHAT_SERVER/message/create/"
	done
	# 100,000 lines are 28 MB of JSON: a program that kept them all
	# would not fit in 40 MB of address space, libraries included.
	bash -c 'ulimit -v 40960 && exec chat-history -u alice bob' >"$BATS_TEST_TMPDIR/all" \
		2>"$BATS_TEST_TMPDIR/err"
	[ ! -s "$BATS_TEST_TMPDIR/err" ]
	run bash -c 'jq -r ".text | split(\" \")[0]" "$1" | awk "\$0 != \"m\" NR { bad++ } END { print NR, bad + 0 }"' _ "$BATS_TEST_TMPDIR/all"
	[ "$output" = "100000 0" ]
	# -n reads its pages the same way
	run bash -c 'ulimit -v 40960 && exec chat-history -u alice bob -n 100000 >/dev/null'
	[ "$status" -eq 0 ]
}

@test "-f: prints the history, then new messages as they are stored" {
	msg alice bob old
	follow -u bob alice
	wait_lines 1
	msg alice bob new1
	msg bob alice new2
	msg carol bob other
	wait_lines 3
	stop_follow INT
	[ "$follow_rc" -eq 0 ]
	run jq -r .text "$BATS_TEST_TMPDIR/f.out"
	[ "$(printf '%s\n' "$output" | tr '\n' ' ')" = "old new1 new2 " ]
	[ ! -s "$BATS_TEST_TMPDIR/f.err" ]
}

@test "-f stops cleanly on SIGTERM and SIGINT, with status 0, at once" {
	follow -u bob
	sleep 0.5
	local t0=$SECONDS
	stop_follow TERM
	[ "$follow_rc" -eq 0 ]
	[ $((SECONDS - t0)) -le 2 ]
	follow --follow -u bob alice
	sleep 1.2
	stop_follow INT
	[ "$follow_rc" -eq 0 ]
}

@test "-f does not poll while nothing comes: it waits on the push channel" {
	follow -u bob
	sleep 4.2
	stop_follow TERM
	local n
	# the history, and one fetch for the resync a new daemon sends
	n=$(grep -c '"path":"/message/inbox/"' "$DIRD_LOG")
	echo "requests: $n" >&2
	[ "$n" -le 2 ]
}

@test "-f -n 0: only the messages that come from now on" {
	msg alice bob before
	follow -u bob -n 0
	sleep 1.2
	msg alice bob after
	wait_lines 1
	stop_follow INT
	run jq -r .text "$BATS_TEST_TMPDIR/f.out"
	[ "$output" = after ]
}

@test "-f with --after and -n: the history asked for, then what comes" {
	for i in 1 2 3; do msg alice bob "m$i"; done
	follow -u bob -n 1
	wait_lines 1
	msg alice bob m4
	wait_lines 2
	stop_follow INT
	run jq -r .text "$BATS_TEST_TMPDIR/f.out"
	[ "$(printf '%s\n' "$output" | tr '\n' ' ')" = "m3 m4 " ]
}

@test "-f rides out a directory restart, saying so once on stderr" {
	msg alice bob before
	follow -u bob
	wait_lines 1
	local port=$DIRD_PORT
	stop_dird
	sleep 2.5
	start_dird -l "127.0.0.1:$port"
	msg alice bob after
	wait_lines 2
	stop_follow INT
	[ "$follow_rc" -eq 0 ]
	run jq -r .text "$BATS_TEST_TMPDIR/f.out"
	[ "$(printf '%s\n' "$output" | tr '\n' ' ')" = "before after " ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/f.err")" -eq 1 ]
	grep -q "^chat-history: http://127.0.0.1:$port/events?username=bob.*; trying again every 1 s\$" \
		"$BATS_TEST_TMPDIR/f.err"
}

@test "-f ends with 67 when the user is unknown" {
	run timeout 10 chat-history -f -u alice ghost
	[ "$status" -eq 67 ]
}

@test "CHAT_USER when -u is not given; -u and --user win over it" {
	msg alice bob hi
	CHAT_USER=bob run chat-history
	[ "$(texts)" = "hi " ]
	CHAT_USER=bob run chat-history alice
	[ "$(texts)" = "hi " ]
	CHAT_USER=carol run chat-history --user bob
	[ "$(texts)" = "hi " ]
	CHAT_USER=carol run chat-history -u alice
	[ -z "$output" ]
}

@test "usage errors: no user, two peers, bad --after and -n, bad names, unknown options" {
	run --separate-stderr chat-history
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"usage: chat-history -u name [-f [--calls]] [--after id] [-n count] [-s url] [peer]"* ]]
	run chat-history -u alice bob carol
	[ "$status" -eq 64 ]
	local bad
	for bad in "--after -1" "--after x" "--after 1.5" "-n -1" "-n x" "-n 99999999999999999999" \
		"-u a/b" "bad/peer" "--bogus" "-n"; do
		# shellcheck disable=SC2086
		run --separate-stderr chat-history -u alice $bad
		[ "$status" -eq 64 ] || { echo "$bad: $status" >&2; return 1; }
		[ -z "$output" ]
	done
	run --separate-stderr chat-history -u alice --after x
	[ "$stderr" = "chat-history: --after: x: not a message id" ]
}

@test "-h, --help, --version" {
	run --separate-stderr chat-history -h
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = "usage: chat-history -u name [-f [--calls]] [--after id] [-n count] [-s url] [peer]" ]
	run chat-history --help
	for o in --user --follow --after --last --server --version; do
		[[ "$output" == *"$o"* ]] || { echo "no $o" >&2; return 1; }
	done
	run chat-history --version
	[[ "$output" =~ ^chat-history\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

# The EXAMPLES of chat-history(1), as written there.
last_from_bob() {
	chat-history -u alice bob | jq -r 'select(.from == "bob") | .text' |
		tail -n 10
}
transcript() {
	chat-history -u alice -n 10 bob | jq -r '"\(.ts) \(.from): \(.text)"'
}
keep_inbox() {
	last=$(tail -n 1 inbox.jsonl 2>/dev/null | jq -r '.id // 0')
	chat-history -u alice --after "${last:-0}" >>inbox.jsonl
}
who_writes() {
	chat-history -u alice | jq -r .from | sort | uniq -c | sort -rn
}

@test "the man page's examples: the last 10 from bob as plain text, a transcript" {
	for i in $(seq 1 12); do
		msg bob alice "b$i"
		msg alice bob "a$i"
	done
	run last_from_bob
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | tr '\n' ' ')" = "b3 b4 b5 b6 b7 b8 b9 b10 b11 b12 " ]
	run transcript
	[ "${#lines[@]}" -eq 10 ]
	[[ "${lines[9]}" =~ ^[0-9T:.-]+Z\ alice:\ a12$ ]]
}

@test "the man page's examples: an inbox kept up to date in a file, who writes most" {
	cd "$BATS_TEST_TMPDIR"
	msg bob alice one
	keep_inbox
	msg carol alice two
	msg bob alice three
	keep_inbox
	keep_inbox
	run jq -r .text inbox.jsonl
	[ "$(printf '%s\n' "$output" | tr '\n' ' ')" = "one two three " ]
	run who_writes
	[ "$(printf '%s\n' "${lines[0]}" | tr -s ' ')" = " 2 bob" ]
}
