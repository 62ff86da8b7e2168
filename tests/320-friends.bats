#!/usr/bin/env bats
# chat-friends: listing a user's friends with their presence, adding
# friends, and its exit statuses, against a real chat-dird.

bats_require_minimum_version 1.5.0

load helper

setup() {
	start_dird
	unset CHAT_USER CHAT_TIMEOUT
	for u in alice bob carol dave; do reg "$u"; done
}
teardown() { stop_dird; }

# reg NAME: registers NAME through the API.
reg() {
	api POST /register "{\"username\":\"$1\",\"ip\":\"127.0.0.1\",\"port\":5000}"
	case $status_code in 200 | 201) ;; *) echo "reg $1: $status_code $body" >&2; return 1 ;; esac
}

# names: the usernames of the JSON lines in $output, space-separated.
names() {
	printf '%s\n' "$output" | jq -r .username | tr '\n' ' '
}

@test "no friends: nothing printed, exit 0" {
	run --separate-stderr chat-friends -u alice
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
}

@test "add prints {username, created} per friend; adding again is not an error" {
	run --separate-stderr chat-friends -u alice add bob carol
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = '{"username":"bob","created":true}' ]
	[ "${lines[1]}" = '{"username":"carol","created":true}' ]
	run chat-friends -u alice add bob dave
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = '{"username":"bob","created":false}' ]
	[ "${lines[1]}" = '{"username":"dave","created":true}' ]
}

@test "lists friends as peers with online, by username; friendship is mutual" {
	chat-friends -u alice add dave Bob >/dev/null
	run --separate-stderr chat-friends -u alice
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(names)" = "bob dave " ]
	printf '%s\n' "$output" | jq -e 'keys_unsorted == ["username","ip","port","online","last_seen"]'
	printf '%s\n' "$output" | jq -e '.online == true and .port == 5000'
	run chat-friends -u bob
	[ "$(names)" = "alice " ]
}

@test "online follows presence: a friend that logged out is offline" {
	chat-friends -u alice add bob carol >/dev/null
	api POST /logout '{"username":"carol"}'
	expect 200
	run chat-friends -u alice
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r 'select(.online) | .username')" = bob ]
	[ "$(printf '%s\n' "$output" | jq -r 'select(.online | not) | .username')" = carol ]
}

@test "an unknown friend: a line on stderr, the others still added, exit 67" {
	run --separate-stderr chat-friends -u alice add bob ghost carol
	[ "$status" -eq 67 ]
	[ "$(names)" = "bob carol " ]
	[ "$stderr" = "chat-friends: ghost: no such peer" ]
	run chat-friends -u alice
	[ "$(names)" = "bob carol " ]
}

@test "oneself is no friend: a line on stderr, the others still added, exit 65" {
	run --separate-stderr chat-friends -u alice add ALICE bob
	[ "$status" -eq 65 ]
	[ "$(names)" = "bob " ]
	[ "$stderr" = "chat-friends: ALICE: cannot be one's own friend" ]
}

@test "the status is that of the first friend that failed" {
	run chat-friends -u alice add ghost alice
	[ "$status" -eq 67 ]
	run chat-friends -u alice add alice ghost
	[ "$status" -eq 65 ]
}

@test "an unknown user: 67 at once, for a list and for add" {
	run --separate-stderr chat-friends -u ghost
	[ "$status" -eq 67 ]
	[ -z "$output" ]
	[ "$stderr" = "chat-friends: ghost: no such peer" ]
	run --separate-stderr chat-friends -u ghost add bob carol
	[ "$status" -eq 67 ]
	[ -z "$output" ]
	[ "$stderr" = "chat-friends: ghost: no such peer" ]
}

@test "pages through 2500 friends" {
	local cfg=$BATS_TEST_TMPDIR/reg.cfg i
	for i in $(seq -f '%04g' 1 2500); do
		[ "$i" = 0001 ] || echo next
		printf 'url = "%s/register"\n' "$CHAT_SERVER"
		printf 'data = {"username":"f%s","ip":"127.0.0.1","port":5000}\n' "$i"
		printf 'header = "Content-Type: application/json"\noutput = /dev/null\n'
	done >"$cfg"
	curl -s -f -K "$cfg"
	seq -f 'f%04g' 1 2500 | xargs chat-friends -u alice add >/dev/null
	run chat-friends -u alice
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2500 ]
	[ "$(printf '%s\n' "$output" | jq -r .username)" = "$(seq -f 'f%04g' 1 2500)" ]
}

@test "CHAT_USER when -u is not given; -u and --user win over it" {
	chat-friends -u alice add bob >/dev/null
	CHAT_USER=alice run chat-friends
	[ "$status" -eq 0 ]
	[ "$(names)" = "bob " ]
	CHAT_USER=alice run chat-friends add carol
	[ "${lines[0]}" = '{"username":"carol","created":true}' ]
	CHAT_USER=nobody run chat-friends --user bob
	[ "$(names)" = "alice " ]
	local server=$CHAT_SERVER
	CHAT_SERVER=http://127.0.0.1:1 run chat-friends -u bob --server "$server"
	[ "$status" -eq 0 ]
}

@test "usage errors: no user, unknown command, add without friends, bad names" {
	run --separate-stderr chat-friends
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"usage: chat-friends -u name [-s url] [add friend ...]"* ]]
	run --separate-stderr chat-friends -u alice remove bob
	[ "$status" -eq 64 ]
	[[ "$stderr" == "chat-friends: remove: unknown command"* ]]
	run chat-friends -u alice add
	[ "$status" -eq 64 ]
	run chat-friends -u alice add bob 'x y'
	[ "$status" -eq 64 ]
	run chat-friends -u 'x/y'
	[ "$status" -eq 64 ]
	run chat-friends -u alice --nope
	[ "$status" -eq 64 ]
	run chat-friends -u bob
	[ -z "$output" ]
}

@test "-h, --help, --version" {
	run --separate-stderr chat-friends -h
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = "usage: chat-friends -u name [-s url] [add friend ...]" ]
	run chat-friends --help
	[[ "$output" == *--user* && "$output" == *--server* ]]
	run chat-friends --version
	[[ "$output" =~ ^chat-friends\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

# The EXAMPLES of chat-friends(1), as written there.
online_friends() { chat-friends -u alice | jq -r 'select(.online) | .username'; }
new_friends() { chat-friends -u alice add bob carol | jq -r 'select(.created) | .username'; }
befriend_online() {
	chat-peers --online | jq -r .username | grep -vix alice |
		xargs -r chat-friends -u alice add
}

@test "the man page's examples: online friends, new friends, everyone online" {
	chat-friends -u alice add bob >/dev/null
	run new_friends
	[ "$output" = carol ]
	api POST /logout '{"username":"carol"}'
	run online_friends
	[ "$output" = bob ]
	printf 'dave\n' >"$BATS_TEST_TMPDIR/names"
	run bash -c 'xargs chat-friends -u alice add <"$1"' _ "$BATS_TEST_TMPDIR/names"
	[ "$output" = '{"username":"dave","created":true}' ]
	api POST /logout '{"username":"dave"}'
	reg erin
	run befriend_online
	[ "$status" -eq 0 ]
	[ "$(names)" = "bob erin " ]
}

@test "a directory that is down: 69" {
	stop_dird
	run --separate-stderr timeout 10 chat-friends -u alice
	[ "$status" -eq 69 ]
	[[ "$stderr" == "chat-friends: http://127.0.0.1:$DIRD_PORT/friend/get/"* ]]
	run timeout 10 chat-friends -u alice add bob
	[ "$status" -eq 69 ]
}
