#!/usr/bin/env bats
# POST /register: new peers, updates, case-insensitive names, the ext
# fields, the observed address, seed-style string ports, IPv6 addresses.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

setup() { start_dird; }
teardown() {
	stop_dird
	check_errors
	no_5xx_logged
}

@test "a fresh daemon is healthy" {
	get /healthz
	expect 200 '. == {"status": "ok"}'
	expect_json
	get /healthz/
	expect 200 '.status == "ok"'
}

@test "a new peer is created: 201, the seed message, created true" {
	post /register '{"username":"alice","ip":"10.0.0.1","port":5000}'
	expect 201 '.message == "Peer registered successfully" and .created == true'
	expect_json
}

@test "the answer carries the ext fields username, ip, port, observed_ip" {
	post /register '{"username":"alice","ip":"10.0.0.1","port":5000}'
	expect 201 '.username == "alice" and .ip == "10.0.0.1" and .port == 5000 and .observed_ip == "127.0.0.1"'
}

@test "registering again updates the peer: 200, created false" {
	post /register '{"username":"alice","ip":"10.0.0.1","port":5000}'
	expect 201 '.created == true'
	post /register '{"username":"alice","ip":"10.0.0.2","port":6000}'
	expect 200 '.message == "Peer registered successfully" and .created == false and .ip == "10.0.0.2" and .port == 6000'
	get '/peerinfo?username=alice'
	expect 200 '.ip == "10.0.0.2" and .port == 6000'
	get /peers
	expect 200 '.peers | length == 1'
}

@test "usernames are unique regardless of case; the first spelling is kept" {
	post /register '{"username":"Alice","ip":"10.0.0.1","port":5000}'
	expect 201 '.created == true and .username == "Alice"'
	post /register '{"username":"alice","ip":"10.0.0.9","port":5009}'
	expect 200 '.created == false and .username == "Alice" and .port == 5009'
	post /register '{"username":"ALICE","ip":"10.0.0.8","port":5008}'
	expect 200 '.created == false and .username == "Alice"'
	get /peers
	expect 200 '[.peers[].username] == ["Alice"]'
	get '/peerinfo?username=aLiCe'
	expect 200 '.username == "Alice" and .ip == "10.0.0.8" and .port == 5008'
}

@test "without ip, the address the request came from is registered" {
	post /register '{"username":"alice","port":5000}'
	expect 201 '.ip == "127.0.0.1" and .observed_ip == "127.0.0.1"'
	get '/peerinfo?username=alice'
	expect 200 '.ip == "127.0.0.1" and .port == 5000'
}

@test "observed_ip is the source address even when ip names another" {
	post /register '{"username":"alice","ip":"192.0.2.7","port":5000}'
	expect 201 '.ip == "192.0.2.7" and .observed_ip == "127.0.0.1"'
}

@test "a port given as a string of digits is accepted (seed clients)" {
	post /register '{"username":"alice","ip":"10.0.0.1","port":"6001"}'
	expect 201 '.port == 6001'
	get '/peerinfo?username=alice'
	expect 200 '.port == 6001'
}

@test "ports 1 and 65535 are accepted" {
	post /register '{"username":"low","ip":"10.0.0.1","port":1}'
	expect 201 '.port == 1'
	post /register '{"username":"high","ip":"10.0.0.1","port":65535}'
	expect 201 '.port == 65535'
}

@test "IPv6 addresses are accepted" {
	post /register '{"username":"six","ip":"2001:db8::1","port":5000}'
	expect 201 '.ip == "2001:db8::1"'
	post /register '{"username":"loop6","ip":"::1","port":5001}'
	expect 201 '.ip == "::1"'
	post /register '{"username":"mapped","ip":"::ffff:10.0.0.1","port":5002}'
	expect 201
	get '/peerinfo?username=six'
	expect 200 '.ip == "2001:db8::1" and .port == 5000'
}

@test "every allowed username character, and 50 characters, are accepted" {
	post /register '{"username":"a.b_c-D9","ip":"10.0.0.1","port":5000}'
	expect 201 '.username == "a.b_c-D9"'
	post /register '{"username":"9lives","ip":"10.0.0.1","port":5000}'
	expect 201 '.username == "9lives"'
	name=$(repeat x 50)
	post /register "{\"username\":\"$name\",\"ip\":\"10.0.0.1\",\"port\":5000}"
	expect 201 ".username == \"$name\""
}

@test "unknown fields in the body are ignored" {
	post /register '{"username":"alice","ip":"10.0.0.1","port":5000,"color":"blue","extra":{"a":[1]}}'
	expect 201 '.created == true'
}

@test "a registered peer is online, with an RFC 3339 last_seen" {
	post /register '{"username":"alice","ip":"10.0.0.1","port":5000}'
	get '/peerinfo?username=alice'
	expect 200 ".online == true and (.last_seen | test(\"$TS_RE\"))"
}

@test "re-registering moves last_seen forward" {
	register alice
	get '/peerinfo?username=alice'
	first=$(printf '%s' "$body" | jq -r .last_seen)
	sleep 0.05
	register alice
	get '/peerinfo?username=alice'
	second=$(printf '%s' "$body" | jq -r .last_seen)
	[[ "$second" > "$first" ]]
}
