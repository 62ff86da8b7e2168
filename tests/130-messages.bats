#!/usr/bin/env bats
# POST /message/create/, GET /message/get/ and /message/inbox/: ids, uid
# idempotency, atomic batches, paging, last=N, limits, exact round trips.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

setup() {
	start_dird --max-content 100 --max-body 2048
	register alice
	register bob
	register carol
}
teardown() {
	stop_dird
	check_errors
	no_5xx_logged
}

# texts PATH: prints the texts of GET PATH, one a line.
texts() {
	get "$1"
	expect 200 '.messages | type == "array"' || return 1
	printf '%s' "$body" | jq -r '.messages[].message'
}

@test "create: 201 {status: ok, message_id: N}, with uid and ts" {
	post /message/create/ '{"sender":"alice","receiver":"bob","content":"hello"}'
	expect 201 '.status == "ok" and (.message_id | type == "number") and .message_id > 0'
	expect 201 ".uid | test(\"^[0-9a-f]{32}$\")"
	expect 201 ".ts | test(\"$TS_RE\")"
	expect_json
}

@test "ids grow with every message" {
	send alice bob one
	a=$msg_id
	send bob alice two
	b=$msg_id
	send carol bob three
	[ "$a" -lt "$b" ] && [ "$b" -lt "$msg_id" ]
}

@test "a repeated uid answers 200 with the first id and stores nothing new" {
	post /message/create/ '{"sender":"alice","receiver":"bob","content":"hi","uid":"u-1"}'
	expect 201 '.uid == "u-1"'
	first=$(printf '%s' "$body" | jq .message_id)
	post /message/create/ '{"sender":"alice","receiver":"bob","content":"hi","uid":"u-1"}'
	expect 200 ".status == \"ok\" and .message_id == $first and .uid == \"u-1\""
	post /message/create '{"sender":"alice","receiver":"bob","content":"changed","uid":"u-1"}'
	expect 200 ".message_id == $first"
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200 "[.messages[] | {id, uid, message}] == [{\"id\": $first, \"uid\": \"u-1\", \"message\": \"hi\"}]"
}

@test "every allowed uid character, and 64 characters, are accepted" {
	send alice bob a 'A-z.0_9:x'
	expect 201 '.uid == "A-z.0_9:x"'
	uid=$(repeat f 64)
	send alice bob b "$uid"
	expect 201 ".uid == \"$uid\""
}

@test "batch: 201 with message_ids in order, stored in that order" {
	post /message/create/ '{"messages":[
		{"sender":"alice","receiver":"bob","content":"b1","uid":"b-1"},
		{"sender":"bob","receiver":"alice","content":"b2","uid":"b-2"},
		{"sender":"alice","receiver":"bob","content":"b3"}]}'
	expect 201 '.status == "ok" and (.message_ids | length == 3) and (.message_ids | . == sort) and (.message_ids | unique | length == 3)'
	ids=$(printf '%s' "$body" | jq -c .message_ids)
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200 "[.messages[].id] == $ids and [.messages[].message] == [\"b1\", \"b2\", \"b3\"]"
	expect 200 '[.messages[].uid][0:2] == ["b-1", "b-2"]'
}

@test "batch with only known uids: 200, the same ids; a mixed batch: 201" {
	post /message/create/ '{"messages":[
		{"sender":"alice","receiver":"bob","content":"x1","uid":"x-1"},
		{"sender":"alice","receiver":"bob","content":"x2","uid":"x-2"}]}'
	expect 201
	ids=$(printf '%s' "$body" | jq -c .message_ids)
	post /message/create/ '{"messages":[
		{"sender":"alice","receiver":"bob","content":"x1","uid":"x-1"},
		{"sender":"alice","receiver":"bob","content":"x2","uid":"x-2"}]}'
	expect 200 ".message_ids == $ids"
	post /message/create/ '{"messages":[
		{"sender":"alice","receiver":"bob","content":"x2","uid":"x-2"},
		{"sender":"alice","receiver":"bob","content":"x3","uid":"x-3"}]}'
	expect 201 ".message_ids[0] == ($ids)[1] and .message_ids[1] > ($ids)[1]"
	[ "$(texts '/message/get/?peer1=alice&peer2=bob')" = "$(printf 'x1\nx2\nx3')" ]
}

@test "a batch with one unknown receiver stores nothing: 404" {
	post /message/create/ '{"messages":[
		{"sender":"alice","receiver":"bob","content":"a1","uid":"a-1"},
		{"sender":"alice","receiver":"nobody","content":"a2"},
		{"sender":"alice","receiver":"bob","content":"a3"}]}'
	expect_error 404 peer_not_found
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200 '.messages == []'
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
	# The uid of the failed batch is still free.
	send alice bob a1 a-1
	expect 201
}

@test "a batch with one bad item stores nothing: 400" {
	post /message/create/ '{"messages":[
		{"sender":"alice","receiver":"bob","content":"ok"},
		{"sender":"alice","receiver":"bob","content":{"text":"no"}}]}'
	expect_error 400 invalid_field
	post /message/create/ '{"messages":[
		{"sender":"alice","receiver":"bob","content":"ok"},
		{"sender":"alice","receiver":"bob","content":"bad uid","uid":"a b"}]}'
	expect_error 400 invalid_uid
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
}

@test "an empty batch: 400" {
	post /message/create/ '{"messages":[]}'
	expect_error 400 invalid_field
}

@test "get: the conversation both ways, oldest first, seed and ext fields" {
	send alice bob one u1
	send bob alice two u2
	send carol bob other
	send alice carol other
	send alice bob three u3
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200 '[.messages[] | {message, from, to, uid}] == [
		{"message":"one","from":"alice","to":"bob","uid":"u1"},
		{"message":"two","from":"bob","to":"alice","uid":"u2"},
		{"message":"three","from":"alice","to":"bob","uid":"u3"}]'
	expect 200 '[.messages[].id] | . == sort and (unique | length) == 3'
	expect 200 "all(.messages[]; .ts | test(\"$TS_RE\"))"
	expect 200 'has("next") | not'
	expect_json
	mine=$body
	get '/message/get/?peer1=bob&peer2=alice'
	[ "$body" = "$mine" ]
	get '/message/get?peer1=alice&peer2=bob'
	[ "$body" = "$mine" ]
}

@test "get matches names regardless of case; messages carry the registered spelling" {
	register Dave
	send ALICE dave hi
	get '/message/get/?peer1=alice&peer2=DAVE'
	expect 200 '[.messages[] | {from, to, message}] == [{"from":"alice","to":"Dave","message":"hi"}]'
}

@test "an empty conversation, and notes to self" {
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200 '. == {"messages": []}'
	send alice alice 'note to self'
	expect 201
	get '/message/get/?peer1=alice&peer2=alice'
	expect 200 '[.messages[] | {from, to, message}] == [{"from":"alice","to":"alice","message":"note to self"}]'
}

@test "get pages with limit and after; next is the id to pass as after" {
	for i in 1 2 3 4 5 6 7; do send alice bob "m$i"; done
	send alice carol elsewhere
	get '/message/get/?peer1=alice&peer2=bob&limit=3'
	expect 200 '[.messages[].message] == ["m1","m2","m3"] and (.next | tostring) == (.messages[2].id | tostring)'
	next=$(printf '%s' "$body" | jq -r .next)
	get "/message/get/?peer1=alice&peer2=bob&limit=3&after=$next"
	expect 200 '[.messages[].message] == ["m4","m5","m6"] and (.next | tostring) == (.messages[2].id | tostring)'
	next=$(printf '%s' "$body" | jq -r .next)
	get "/message/get/?peer1=alice&peer2=bob&limit=3&after=$next"
	expect 200 '[.messages[].message] == ["m7"] and (has("next") | not)'
	get '/message/get/?peer1=alice&peer2=bob&limit=7'
	expect 200 '(.messages | length) == 7 and (has("next") | not)'
}

@test "get with after alone: everything newer than the id" {
	for i in 1 2 3 4; do send alice bob "m$i"; done
	get '/message/get/?peer1=alice&peer2=bob'
	second=$(printf '%s' "$body" | jq '.messages[1].id')
	[ "$(texts "/message/get/?peer1=alice&peer2=bob&after=$second")" = "$(printf 'm3\nm4')" ]
	[ "$(texts '/message/get/?peer1=alice&peer2=bob&after=0')" = "$(printf 'm1\nm2\nm3\nm4')" ]
}

@test "get with last=N: only the newest N, oldest first" {
	for i in 1 2 3 4 5; do send bob alice "m$i"; done
	[ "$(texts '/message/get/?peer1=alice&peer2=bob&last=2')" = "$(printf 'm4\nm5')" ]
	[ "$(texts '/message/get/?peer1=alice&peer2=bob&last=1')" = m5 ]
	[ "$(texts '/message/get/?peer1=alice&peer2=bob&last=100')" = "$(printf 'm1\nm2\nm3\nm4\nm5')" ]
	get '/message/get/?peer1=alice&peer2=bob'
	second=$(printf '%s' "$body" | jq '.messages[1].id')
	[ "$(texts "/message/get/?peer1=alice&peer2=bob&last=10&after=$second")" = "$(printf 'm3\nm4\nm5')" ]
	[ "$(texts "/message/get/?peer1=alice&peer2=bob&last=2&after=$second")" = "$(printf 'm4\nm5')" ]
}

@test "inbox: the messages to a user, oldest first, with after, limit, last" {
	send alice bob a1
	send bob alice notmine
	send carol bob c1
	send alice carol notmine
	send alice bob a2
	get '/message/inbox/?username=bob'
	expect 200 '[.messages[] | {from, to, message}] == [
		{"from":"alice","to":"bob","message":"a1"},
		{"from":"carol","to":"bob","message":"c1"},
		{"from":"alice","to":"bob","message":"a2"}]'
	expect 200 "all(.messages[]; (.id | type == \"number\") and (.uid | type == \"string\") and (.ts | test(\"$TS_RE\")))"
	expect_json
	first=$(printf '%s' "$body" | jq '.messages[0].id')
	[ "$(texts "/message/inbox/?username=bob&after=$first")" = "$(printf 'c1\na2')" ]
	[ "$(texts '/message/inbox?username=BOB&last=1')" = a2 ]
	get '/message/inbox/?username=bob&limit=2'
	expect 200 '[.messages[].message] == ["a1","c1"] and (.next | tostring) == (.messages[1].id | tostring)'
	next=$(printf '%s' "$body" | jq -r .next)
	get "/message/inbox/?username=bob&limit=2&after=$next"
	expect 200 '[.messages[].message] == ["a2"] and (has("next") | not)'
}

@test "an empty inbox" {
	get '/message/inbox/?username=carol'
	expect 200 '. == {"messages": []}'
}

@test "unknown sender or receiver: 404, nothing stored" {
	post /message/create/ '{"sender":"nobody","receiver":"bob","content":"x"}'
	expect_error 404 peer_not_found
	post /message/create/ '{"sender":"alice","receiver":"nobody","content":"x"}'
	expect_error 404 peer_not_found
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
}

@test "get and inbox of an unknown user: 404" {
	get '/message/get/?peer1=alice&peer2=nobody'
	expect_error 404 peer_not_found
	get '/message/get/?peer1=nobody&peer2=alice'
	expect_error 404 peer_not_found
	get '/message/inbox/?username=nobody'
	expect_error 404 peer_not_found
}

@test "get without both peers, inbox without username: 400" {
	get '/message/get/?peer1=alice'
	expect_error 400 invalid_field
	get '/message/get/?peer2=alice'
	expect_error 400 invalid_field
	get /message/get/
	expect_error 400 invalid_field
	get /message/inbox/
	expect_error 400 invalid_field
}

@test "content up to --max-content bytes is stored; one byte more is 413" {
	send alice bob "$(repeat a 100)"
	expect 201
	post /message/create/ "{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"$(repeat a 101)\"}"
	expect_error 413 content_too_large
	[ "$(texts '/message/get/?peer1=alice&peer2=bob')" = "$(repeat a 100)" ]
}

@test "--max-content counts bytes, not characters" {
	# 33 euro signs are 99 bytes, 34 are 102.
	send alice bob "$(repeat € 33)"
	expect 201
	post /message/create/ "{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"$(repeat € 34)\"}"
	expect_error 413 content_too_large
}

@test "a batch with one item over --max-content stores nothing: 413" {
	post /message/create/ "{\"messages\":[
		{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"short\"},
		{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"$(repeat a 101)\"}]}"
	expect_error 413 content_too_large
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
}

@test "a body over --max-body: 413, also chunked" {
	big=$(repeat a 3000)
	post /message/create/ "{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"$big\"}"
	expect_error 413 body_too_large
	post /register "{\"username\":\"alice\",\"port\":5000,\"pad\":\"$big\"}"
	expect_error 413 body_too_large
	printf '{"sender":"alice","receiver":"bob","content":"%s"}' "$big" >"$BATS_TEST_TMPDIR/big.json"
	req POST /message/create/ -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$BATS_TEST_TMPDIR/big.json"
	expect_error 413 body_too_large
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
	get /healthz
	expect 200
}

@test "a chunked body without a length, up to --max-body, is read whole" {
	# 18 messages: about 1,900 bytes, read in several pieces.
	{
		printf '{"messages":['
		for i in $(seq 1 18); do
			[ "$i" -gt 1 ] && printf ','
			printf '{"sender":"alice","receiver":"bob","content":"%s"}' \
				"$(printf 'm%02d-%050d' "$i" 0)"
		done
		printf ']}'
	} >"$BATS_TEST_TMPDIR/batch.json"
	size=$(wc -c <"$BATS_TEST_TMPDIR/batch.json")
	[ "$size" -gt 1800 ] && [ "$size" -le 2048 ]
	req POST /message/create/ -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$BATS_TEST_TMPDIR/batch.json"
	expect 201 '.message_ids | length == 18'
	get '/message/inbox/?username=bob'
	expect 200 '[.messages[].message[:3]] == [range(1;19) | "m\(if . < 10 then "0" else "" end)\(.)"]'
}

@test "unicode content round-trips exactly: emoji, CJK, accents, escapes" {
	text='héllo 👋 你好 世界 🇫🇷 Ω'
	send alice bob "$text"
	post /message/create/ '{"sender":"alice","receiver":"bob","content":"\u00e9\ud83d\udc4b\u4f60"}'
	expect 201
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200
	[ "$(printf '%s' "$body" | jq -r '.messages[0].message')" = "$text" ]
	[ "$(printf '%s' "$body" | jq -r '.messages[1].message')" = 'é👋你' ]
}

@test "quotes, backslashes, newlines, tabs and control characters round-trip" {
	text=$(printf 'say "hi" \\ back\\slash\nline two\r\n\ttab \x01 end\n')
	send alice bob "$text"
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200
	[ "$(printf '%s' "$body" | jq -j '.messages[0].message')" = "$text" ]
	want=$(jq -n --arg t "$text" '$t')
	[ "$(printf '%s' "$body" | jq '.messages[0].message')" = "$want" ]
}

@test "empty content is allowed" {
	send alice bob ''
	expect 201
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200 '[.messages[].message] == [""]'
}

@test "big lists are streamed whole: a 10000-message batch, then get and inbox" {
	stop_dird
	start_dird
	jq -nc '{messages: [range(10000) | {sender: "alice", receiver: "bob", content: "m\(.)", uid: "s-\(.)"}]}' \
		>"$BATS_TEST_TMPDIR/batch.json"
	post_file /message/create/ "$BATS_TEST_TMPDIR/batch.json"
	expect 201 '(.message_ids | length) == 10000 and (.message_ids | . == sort)'
	get '/message/get/?peer1=bob&peer2=alice'
	expect 200 '(.messages | length) == 10000 and ([.messages[].uid] == [range(10000) | "s-\(.)"])'
	get '/message/inbox/?username=bob'
	expect 200 '(.messages | length) == 10000 and .messages[9999].message == "m9999"'
	get '/message/get/?peer1=bob&peer2=alice&last=3'
	expect 200 '[.messages[].message] == ["m9997","m9998","m9999"]'
}
