#!/usr/bin/env bats
# GET /peers, GET /peerinfo, POST /logout and presence: the seed shapes,
# ordering, paging through every peer, who is online.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

setup() { start_dird; }
teardown() {
	stop_dird
	check_errors
	no_5xx_logged
}

# page_all QUERY: follows "next" from GET /peers?QUERY to the end; prints
# every username, one a line, and sets $pages to the sizes of the pages.
page_all() {
	local q=$1 after=""
	pages=""
	for _ in $(seq 1 100); do
		get "/peers?$q${after:+&after=$after}"
		expect 200 '.peers | type == "array"' || return 1
		printf '%s' "$body" | jq -r '.peers[].username'
		pages="$pages$(printf '%s' "$body" | jq '.peers | length') "
		after=$(printf '%s' "$body" | jq -r '.next // empty')
		[ -n "$after" ] || return 0
	done
	echo "more than 100 pages" >&2
	return 1
}

@test "no peers: an empty list, no next" {
	get /peers
	expect 200 '. == {"peers": []}'
	expect_json
}

@test "the seed shape: {peers: [{username}]}, with online, last_seen, ip, port" {
	register alice 5001 10.0.0.1
	register bob 5002 10.0.0.2
	get /peers
	expect 200 '.peers | length == 2'
	expect 200 'all(.peers[]; (.username | type == "string") and .online == true)'
	expect 200 "all(.peers[]; .last_seen | test(\"$TS_RE\"))"
	expect 200 '.peers[0] | .username == "alice" and .ip == "10.0.0.1" and .port == 5001'
	expect 200 'has("next") | not'
	get /peers/
	expect 200 '.peers | length == 2'
}

@test "peers are listed by username, regardless of case" {
	for u in carol Bob alice Dave erin; do register "$u"; done
	get /peers
	expect 200 '[.peers[].username] == ["alice", "Bob", "carol", "Dave", "erin"]'
}

@test "25 peers, limit 10: three pages of 10, 10 and 5, next absent on the last" {
	for i in $(seq -w 1 25); do register "p$i"; done
	page_all 'limit=10' >"$BATS_TEST_TMPDIR/names"
	[ "$pages" = "10 10 5 " ]
	seq -w 1 25 | sed 's/^/p/' | diff - "$BATS_TEST_TMPDIR/names"
}

@test "next is given only when more remain" {
	for i in $(seq -w 1 25); do register "p$i"; done
	get '/peers?limit=10'
	expect 200 '(.peers | length) == 10 and (.next | type == "string")'
	get '/peers?limit=25'
	expect 200 '(.peers | length) == 25 and (has("next") | not)'
	get '/peers?limit=24'
	expect 200 '(.peers | length) == 24 and has("next")'
	get '/peers?limit=1000'
	expect 200 '(.peers | length) == 25 and (has("next") | not)'
}

@test "after is a cursor: it need not be a registered name" {
	for i in $(seq -w 1 25); do register "p$i"; done
	get '/peers?after=p20'
	expect 200 '[.peers[].username] == ["p21", "p22", "p23", "p24", "p25"]'
	get '/peers?after=p105&limit=2'
	expect 200 '[.peers[].username] == ["p11", "p12"] and has("next")'
	get '/peers?after=p25&limit=5'
	expect 200 '.peers == [] and (has("next") | not)'
}

@test "without limit every peer is listed; limit 1000 pages them" {
	register_many u 2000
	get /peers
	expect 200 '(.peers | length) == 2000 and (has("next") | not)'
	printf '%s' "$body" | jq -r '.peers[].username' >"$BATS_TEST_TMPDIR/all"
	seq -w 1 2000 | sed -e 's/^/000/' -e 's/.*\(....\)$/u\1/' | diff - "$BATS_TEST_TMPDIR/all"
	page_all 'limit=1000' >"$BATS_TEST_TMPDIR/paged"
	[ "$pages" = "1000 1000 " ]
	diff "$BATS_TEST_TMPDIR/all" "$BATS_TEST_TMPDIR/paged"
}

@test "paging with limit 1 walks every peer once" {
	for u in dora Carl bea ALF; do register "$u"; done
	page_all 'limit=1' >"$BATS_TEST_TMPDIR/names"
	printf '%s\n' ALF bea Carl dora | diff - "$BATS_TEST_TMPDIR/names"
}

@test "logout with a username: 200, and the peer shows offline" {
	register alice
	register bob
	post /logout '{"username":"alice"}'
	expect 200 '.message == "Logged out successfully"'
	expect_json
	get '/peerinfo?username=alice'
	expect 200 '.online == false'
	get '/peerinfo?username=bob'
	expect 200 '.online == true'
	get '/peers?online=1'
	expect 200 '[.peers[].username] == ["bob"]'
	get /peers
	expect 200 '[.peers[] | {username, online}] == [{"username": "alice", "online": false}, {"username": "bob", "online": true}]'
	get '/peers?online=0'
	expect 200 '.peers | length == 2'
}

@test "logout is case-insensitive, and registering again brings the peer back" {
	register alice
	post /logout/ '{"username":"ALICE"}'
	expect 200
	get '/peerinfo?username=alice'
	expect 200 '.online == false'
	register alice
	expect 200 '.created == false'
	get '/peerinfo?username=alice'
	expect 200 '.online == true'
	get '/peers?online=1'
	expect 200 '[.peers[].username] == ["alice"]'
}

@test "logout without a body, or with {}, answers 200 (seed clients)" {
	register alice
	req POST /logout
	expect 200 '.message == "Logged out successfully"'
	post /logout '{}'
	expect 200 '.message == "Logged out successfully"'
	get '/peerinfo?username=alice'
	expect 200 '.online == true'
}

@test "logout of an unknown user: 404" {
	post /logout '{"username":"nobody"}'
	expect_error 404 peer_not_found
}

@test "presence: a peer silent for longer than the window shows offline" {
	stop_dird
	start_dird --presence 1
	register alice
	get '/peerinfo?username=alice'
	expect 200 '.online == true'
	get '/peers?online=1'
	expect 200 '.peers | length == 1'
	sleep 2
	get '/peerinfo?username=alice'
	expect 200 '.online == false'
	get '/peers?online=1'
	expect 200 '.peers == []'
	get /peers
	expect 200 '[.peers[] | {username, online}] == [{"username": "alice", "online": false}]'
	register alice
	get '/peers?online=1'
	expect 200 '[.peers[].username] == ["alice"]'
}

@test "peerinfo: the seed shape plus online and last_seen" {
	register alice 5001 10.0.0.1
	get '/peerinfo?username=alice'
	expect 200 '.username == "alice" and .ip == "10.0.0.1" and .port == 5001'
	expect 200 ".online == true and (.last_seen | test(\"$TS_RE\"))"
	expect_json
	get '/peerinfo/?username=alice'
	expect 200 '.username == "alice"'
}

@test "peerinfo looks names up regardless of case, and decodes the query" {
	register Alice
	get '/peerinfo?username=ALICE'
	expect 200 '.username == "Alice"'
	get '/peerinfo?username=al%69ce'
	expect 200 '.username == "Alice"'
}

@test "peerinfo of an unknown peer: 404 Peer not found" {
	register alice
	get '/peerinfo?username=bob'
	expect_error 404 peer_not_found
	expect 404 '.error == "Peer not found"'
}

@test "peerinfo without username: 400" {
	get /peerinfo
	expect_error 400 invalid_field
	get '/peerinfo?user=alice'
	expect_error 400 invalid_field
}
