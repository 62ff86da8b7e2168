#!/usr/bin/env bats
# POST /friend/start/ and GET /friend/get/: mutual, idempotent friendships,
# the seed shapes, unknown and same users.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

setup() {
	start_dird
	register alice
	register bob
	register carol
}
teardown() {
	stop_dird
	check_errors
	no_5xx_logged
}

# friends NAME: prints NAME's friends' usernames, sorted, one a line.
friends() {
	get "/friend/get/?username=$1"
	expect 200 '.friends | type == "array"' || return 1
	printf '%s' "$body" | jq -r '.friends[].username' | sort
}

@test "no friends yet: an empty list" {
	get '/friend/get/?username=alice'
	expect 200 '. == {"friends": []}'
	expect_json
}

@test "start: 200, the seed message, created true" {
	post /friend/start/ '{"user1":"alice","user2":"bob"}'
	expect 200 '.message == "friendship started successfully" and .created == true'
	expect_json
}

@test "start is idempotent: created true, then false" {
	post /friend/start/ '{"user1":"alice","user2":"bob"}'
	expect 200 '.created == true'
	post /friend/start/ '{"user1":"alice","user2":"bob"}'
	expect 200 '.message == "friendship started successfully" and .created == false'
	[ "$(friends alice)" = bob ]
}

@test "friendship is mutual: both see each other" {
	post /friend/start/ '{"user1":"alice","user2":"bob"}'
	expect 200
	[ "$(friends alice)" = bob ]
	[ "$(friends bob)" = alice ]
	[ -z "$(friends carol)" ]
	post /friend/start/ '{"user1":"bob","user2":"alice"}'
	expect 200 '.created == false'
	[ "$(friends bob)" = alice ]
}

@test "several friends are all listed, each once" {
	post /friend/start/ '{"user1":"alice","user2":"bob"}'
	post /friend/start/ '{"user1":"carol","user2":"alice"}'
	post /friend/start/ '{"user1":"alice","user2":"carol"}'
	expect 200 '.created == false'
	[ "$(friends alice)" = "$(printf 'bob\ncarol')" ]
	[ "$(friends bob)" = alice ]
	[ "$(friends carol)" = alice ]
}

@test "a friend carries username and online" {
	post /friend/start/ '{"user1":"alice","user2":"bob"}'
	get '/friend/get/?username=alice'
	expect 200 '.friends == [.friends[0]] and (.friends[0] | .username == "bob" and .online == true)'
	post /logout '{"username":"bob"}'
	expect 200
	get '/friend/get/?username=alice'
	expect 200 '.friends[0] | .username == "bob" and .online == false'
}

@test "names are matched regardless of case; the registered spelling is listed" {
	register Dave
	post /friend/start/ '{"user1":"ALICE","user2":"dave"}'
	expect 200 '.created == true'
	post /friend/start/ '{"user1":"alice","user2":"DAVE"}'
	expect 200 '.created == false'
	[ "$(friends alice)" = Dave ]
	[ "$(friends DAVE)" = alice ]
}

@test "paths with and without the trailing slash" {
	post /friend/start '{"user1":"alice","user2":"bob"}'
	expect 200 '.created == true'
	get '/friend/get?username=alice'
	expect 200 '[.friends[].username] == ["bob"]'
}

@test "start with an unknown user: 404, and nothing is added" {
	post /friend/start/ '{"user1":"alice","user2":"nobody"}'
	expect_error 404 peer_not_found
	post /friend/start/ '{"user1":"nobody","user2":"alice"}'
	expect_error 404 peer_not_found
	[ -z "$(friends alice)" ]
}

@test "start with the same user twice: 400, also in another case" {
	post /friend/start/ '{"user1":"alice","user2":"alice"}'
	expect_error 400 same_user
	post /friend/start/ '{"user1":"alice","user2":"ALICE"}'
	expect_error 400 same_user
	[ -z "$(friends alice)" ]
}

@test "start with a missing field: 400" {
	post /friend/start/ '{"user1":"alice"}'
	expect_error 400 invalid_field
	post /friend/start/ '{"user2":"bob"}'
	expect_error 400 invalid_field
	post /friend/start/ '{}'
	expect_error 400 invalid_field
	[ -z "$(friends alice)" ]
	[ -z "$(friends bob)" ]
}

@test "get of an unknown user: 404; without username: 400" {
	get '/friend/get/?username=nobody'
	expect_error 404 peer_not_found
	get /friend/get/
	expect_error 400 invalid_field
}
