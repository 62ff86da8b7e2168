#!/usr/bin/env bats
# chat-peers: listing every peer (paged), only those online, and looking
# peers up by name, against a real chat-dird.

bats_require_minimum_version 1.5.0

load helper

setup() {
	start_dird
	unset CHAT_TIMEOUT
}
teardown() { stop_dird; }

# reg NAME [PORT]: registers NAME at 127.0.0.1:PORT through the API.
reg() {
	api POST /register "{\"username\":\"$1\",\"ip\":\"127.0.0.1\",\"port\":${2:-5000}}"
	case $status_code in 200 | 201) ;; *) echo "reg $1: $status_code $body" >&2; return 1 ;; esac
}

# reg_many N: registers p00001 .. pN with one curl process.
reg_many() {
	local cfg=$BATS_TEST_TMPDIR/reg.cfg i
	for i in $(seq -f '%05g' 1 "$1"); do
		[ "$i" = 00001 ] || echo next
		printf 'url = "%s/register"\n' "$CHAT_SERVER"
		printf 'data = {"username":"p%s","ip":"127.0.0.1","port":5000}\n' "$i"
		printf 'header = "Content-Type: application/json"\noutput = /dev/null\n'
	done >"$cfg"
	curl -s -f -K "$cfg"
}

@test "no peers: nothing printed, exit 0" {
	run --separate-stderr chat-peers
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
}

@test "lists every peer, one JSON line each, by username regardless of case" {
	for u in carol Bob alice; do reg "$u"; done
	run --separate-stderr chat-peers
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${#lines[@]}" -eq 3 ]
	[ "$(printf '%s\n' "$output" | jq -r .username | tr '\n' ' ')" = "alice Bob carol " ]
	printf '%s\n' "$output" | jq -e 'keys_unsorted == ["username","ip","port","online","last_seen"]'
	printf '%s\n' "$output" | jq -e '.ip == "127.0.0.1" and .port == 5000 and .online == true'
	# compact: each line is exactly what jq -c makes of it
	[ "$(printf '%s\n' "$output" | jq -c .)" = "$output" ]
}

@test "pages through 2500 peers: every one, in order, a page of 1000 a request" {
	reg_many 2500
	run chat-peers
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2500 ]
	[ "$(printf '%s\n' "$output" | jq -r .username)" = "$(seq -f 'p%05g' 1 2500)" ]
	[ "$(grep -c '"path":"/peers"' "$DIRD_LOG")" -eq 3 ]
}

@test "--online lists only the peers online" {
	reg alice
	reg bob
	reg carol
	api POST /logout '{"username":"bob"}'
	expect 200
	run chat-peers --online
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r .username | tr '\n' ' ')" = "alice carol " ]
	run chat-peers
	[ "${#lines[@]}" -eq 3 ]
	printf '%s\n' "$output" | jq -s -e 'map(select(.username == "bob")) | .[0].online == false'
}

@test "names: each looked up in the order given, regardless of case" {
	reg alice 5001
	reg Bob 5002
	run --separate-stderr chat-peers BOB alice
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${#lines[@]}" -eq 2 ]
	printf '%s\n' "${lines[0]}" | jq -e '.username == "Bob" and .port == 5002 and .online'
	printf '%s\n' "${lines[1]}" | jq -e 'keys_unsorted == ["username","ip","port","online","last_seen"]'
}

@test "an unknown name: a line on stderr, the others still printed, exit 67" {
	reg alice
	reg carol
	run --separate-stderr chat-peers alice ghost carol
	[ "$status" -eq 67 ]
	[ "$(printf '%s\n' "$output" | jq -r .username | tr '\n' ' ')" = "alice carol " ]
	[ "$stderr" = "chat-peers: ghost: no such peer" ]
}

@test "--online with names leaves out those offline, without an error" {
	reg alice
	reg bob
	api POST /logout '{"username":"bob"}'
	run chat-peers --online alice bob
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	printf '%s\n' "$output" | jq -e '.username == "alice"'
	run chat-peers --online bob
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "a name that cannot be a username is a usage error, before any request" {
	reg alice
	run --separate-stderr chat-peers alice 'no/slash'
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	[ "$stderr" = "chat-peers: no/slash: not a username" ]
	run chat-peers ''
	[ "$status" -eq 64 ]
	run ! grep -q '"path":"/peerinfo"' "$DIRD_LOG"
}

@test "-s and --server win over CHAT_SERVER" {
	reg alice
	local server=$CHAT_SERVER
	export CHAT_SERVER=http://127.0.0.1:1
	run chat-peers -s "$server" alice
	[ "$status" -eq 0 ]
	run chat-peers --server "$server"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	run chat-peers alice
	[ "$status" -eq 69 ]
}

@test "CHAT_SERVER unset or empty: the default, http://127.0.0.1:8000" {
	run --separate-stderr env -u CHAT_SERVER CHAT_TIMEOUT=2 chat-peers zz-nobody
	case $status in
	69) [[ "$stderr" == "chat-peers: http://127.0.0.1:8000/peerinfo?username=zz-nobody: "* ]] ;;
	67) [ "$stderr" = "chat-peers: zz-nobody: no such peer" ] ;; # a directory runs there
	*) echo "status $status: $stderr" >&2; return 1 ;;
	esac
	run --separate-stderr env CHAT_SERVER= CHAT_TIMEOUT=2 chat-peers zz-nobody
	[[ "$stderr" == *"zz-nobody"* ]]
	[ "$status" -eq 69 ] || [ "$status" -eq 67 ]
}

@test "a server URL with a trailing slash works" {
	reg alice
	run chat-peers -s "$CHAT_SERVER/" alice
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
}

@test "-h, --help, --version; unknown options are usage errors" {
	run --separate-stderr chat-peers -h
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "usage: chat-peers [--online] [-s url] [name ...]" ]
	[ -z "$stderr" ]
	run chat-peers --help
	[ "$status" -eq 0 ]
	[[ "$output" == *--online* && "$output" == *--server* ]]
	run chat-peers --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^chat-peers\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	run --separate-stderr chat-peers --bogus
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	[[ "$stderr" == *"usage: chat-peers [--online] [-s url] [name ...]"* ]]
	run chat-peers -s
	[ "$status" -eq 64 ]
}

# The EXAMPLES of chat-peers(1), as written there.
where_is_bob() { chat-peers bob | jq -r '"\(.ip) \(.port)"'; }
is_bob_online() { chat-peers --online bob | grep -q . && echo "bob is online"; }
how_many() { chat-peers | jq -s -c '{peers: length, online: map(select(.online)) | length}'; }
online_friends() { chat-friends -u alice | jq -r .username | xargs chat-peers --online; }

@test "the man page's examples: where to reach bob, is bob online, how many" {
	reg bob 5002
	reg carol
	api POST /logout '{"username":"carol"}'
	run where_is_bob
	[ "$output" = "127.0.0.1 5002" ]
	run is_bob_online
	[ "$output" = "bob is online" ]
	run how_many
	[ "$output" = '{"peers":2,"online":1}' ]
}

@test "every online friend of alice, with chat-friends and xargs" {
	for u in alice bob carol dave; do reg "$u"; done
	chat-friends -u alice add bob carol dave >/dev/null
	api POST /logout '{"username":"carol"}'
	run online_friends
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r .username | tr '\n' ' ')" = "bob dave " ]
}
