#!/usr/bin/env bats
# POST /register's ext field candidates (NAT traversal): checked strictly,
# stored, returned by /peerinfo after the observed address, which stays
# authoritative; seed-style registrations are unaffected.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

setup() { start_dird; }
teardown() {
	stop_dird
	check_errors
	no_5xx_logged
}

@test "candidates are stored and /peerinfo lists them after the observed address" {
	post /register '{"username":"alice","port":5000,"candidates":[{"ip":"192.168.1.5","port":5000,"type":"host"},{"ip":"203.0.113.7","port":40000,"type":"srflx"}]}'
	expect 201 '.ip == "127.0.0.1" and (.candidates | length) == 3'
	get '/peerinfo?username=alice'
	expect 200 '.ip == "127.0.0.1" and .port == 5000 and .candidates == [{"ip":"127.0.0.1","port":5000,"type":"observed"},{"ip":"192.168.1.5","port":5000,"type":"host"},{"ip":"203.0.113.7","port":40000,"type":"srflx"}]'
}

@test "a claimed candidate never replaces ip; the observed one comes first" {
	post /register '{"username":"alice","port":5000,"candidates":[{"ip":"203.0.113.7","port":1,"type":"srflx"}]}'
	expect 201 '.ip == "127.0.0.1" and .candidates[0] == {"ip":"127.0.0.1","port":5000,"type":"observed"}'
}

@test "a register without candidates clears them: the old ones go stale" {
	post /register '{"username":"alice","port":5000,"candidates":[{"ip":"10.0.0.1","port":1,"type":"host"}]}'
	expect 201 '(.candidates | length) == 2'
	post /register '{"username":"alice","port":5001}'
	expect 200 '.candidates == [{"ip":"127.0.0.1","port":5001,"type":"observed"}]'
}

@test "a seed-style register still works and /peerinfo keeps its fields" {
	post /register '{"username":"bob","ip":"10.0.0.9","port":"6000"}'
	expect 201 '.message == "Peer registered successfully" and .created == true'
	get '/peerinfo?username=bob'
	expect 200 '.username == "bob" and .ip == "10.0.0.9" and .port == 6000 and (.online | type) == "boolean" and (.last_seen | type) == "string"'
}

@test "bad candidates are refused with 400 invalid_candidates, nothing stored" {
	local bad
	for bad in '"x"' '{}' '[1]' '[{"ip":"nope","port":1,"type":"host"}]' \
		'[{"ip":"10.0.0.1","port":0,"type":"host"}]' \
		'[{"ip":"10.0.0.1","port":70000,"type":"host"}]' \
		'[{"ip":"10.0.0.1","port":"1","type":"host"}]' \
		'[{"ip":"10.0.0.1","port":1,"type":"relay"}]' \
		'[{"ip":"10.0.0.1","port":1,"type":"observed"}]' \
		'[{"ip":"10.0.0.1","port":1}]' \
		'[{"ip":"10.0.0.1","port":1,"type":"host","x":1}]' \
		"[$(printf '{"ip":"10.0.0.1","port":1,"type":"host"},%.0s' 1 2 3 4 5 6 7 8){\"ip\":\"10.0.0.1\",\"port\":1,\"type\":\"host\"}]"; do
		post /register "{\"username\":\"carol\",\"port\":5000,\"candidates\":$bad}"
		expect_error 400 invalid_candidates
	done
	get '/peerinfo?username=carol'
	expect_error 404 peer_not_found
}

@test "eight candidates are the most, and are kept" {
	local c
	c=$(printf '{"ip":"10.0.0.1","port":1,"type":"host"},%.0s' 1 2 3 4 5 6 7)
	post /register "{\"username\":\"dave\",\"port\":5000,\"candidates\":[$c{\"ip\":\"::1\",\"port\":2,\"type\":\"host\"}]}"
	expect 201 '(.candidates | length) == 9 and .candidates[8].ip == "::1"'
}
