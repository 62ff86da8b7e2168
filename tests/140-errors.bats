#!/usr/bin/env bats
# Bad input of every kind gets a 4xx JSON error {"error","code"} with
# Content-Type application/json; never a 5xx, never a crash.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

setup() {
	start_dird
	register alice
	register bob
}
teardown() {
	stop_dird
	check_errors
	no_5xx_logged
}

# The endpoints: method, path (no trailing slash), a query or body that
# succeeds, the status it answers.
ENDPOINTS=(
	'POST /register {"username":"carol","port":5000} 201'
	'GET /peers - 200'
	'GET /peerinfo username=alice 200'
	'POST /friend/start {"user1":"alice","user2":"bob"} 200'
	'GET /friend/get username=alice 200'
	'POST /message/create {"sender":"alice","receiver":"bob","content":"x"} 201'
	'GET /message/get peer1=alice&peer2=bob 200'
	'GET /message/inbox username=bob 200'
	'POST /logout {"username":"alice"} 200'
	'GET /healthz - 200'
)

# bad_register JSON CODE...: POST /register with JSON is a 400 with CODE.
bad_register() {
	local b=$1
	shift
	post /register "$b"
	expect_error 400 "$@" || { echo "body sent: $b" >&2; return 1; }
}

@test "every path answers with and without the trailing slash" {
	for e in "${ENDPOINTS[@]}"; do
		read -r method path arg want <<<"$e"
		for p in "$path" "$path/"; do
			if [ "$method" = POST ]; then
				post "$p" "$arg"
				# A repeated register or friend/start is an update.
				case "$p" in /register/ | /friend/start/) want=200 ;; esac
			elif [ "$arg" = - ]; then
				get "$p"
			else
				get "$p?$arg"
			fi
			expect "$want" || { echo "$method $p" >&2; return 1; }
			expect_json || return 1
		done
	done
}

@test "an unknown path: 404 not_found, whatever the method" {
	for p in / /nope /peers/extra /friend /friend/ /message /message/ \
		/message/create/x /registerx /REGISTER /Peers /healthz/x \
		/peerinfo/alice; do
		get "$p"
		expect_error 404 not_found || { echo "GET $p" >&2; return 1; }
		post "$p" '{}'
		expect_error 404 not_found || { echo "POST $p" >&2; return 1; }
	done
}

@test "a wrong method: 405 method_not_allowed with an Allow header" {
	for e in "${ENDPOINTS[@]}"; do
		read -r method path _ <<<"$e"
		# The other of GET and POST with and without the slash; the
		# rest of the verbs without.
		if [ "$method" = POST ]; then other=GET; else other=POST; fi
		for mp in "$other $path" "$other $path/" "PUT $path" "DELETE $path" "PATCH $path"; do
			read -r m p <<<"$mp"
			req "$m" "$p"
			expect_error 405 method_not_allowed || { echo "$m $p" >&2; return 1; }
			allow=$(header Allow)
			[[ ",${allow// /}," == *",$method,"* ]] ||
				{ echo "$m $p: Allow '$allow' lacks $method" >&2; return 1; }
			[[ ",${allow// /}," != *",$m,"* ]] ||
				{ echo "$m $p: Allow '$allow' lists $m" >&2; return 1; }
			[ "$method" != GET ] || [[ ",${allow// /}," == *",HEAD,"* ]] ||
				{ echo "$m $p: Allow '$allow' lacks HEAD" >&2; return 1; }
		done
	done
}

@test "malformed JSON: 400 invalid_json" {
	for b in '{' 'not json' '{"username":"carol",}' "{'username':'carol'}" \
		'{"username":"carol","port":5000} trailing' '{"username" "carol"}' \
		'{"port":05000}' '' ' '; do
		bad_register "$b" invalid_json
		post /message/create/ "$b"
		expect_error 400 invalid_json || { echo "body sent: $b" >&2; return 1; }
		post /friend/start/ "$b"
		expect_error 400 invalid_json || { echo "body sent: $b" >&2; return 1; }
	done
	get '/peerinfo?username=carol'
	expect_error 404 peer_not_found
}

@test "a body that is JSON but not an object: 400" {
	# The contract names no code for this; either reading is fair.
	for b in '[]' '[{"username":"carol","port":5000}]' '"carol"' '42' 'null' 'true'; do
		bad_register "$b" invalid_json invalid_field
		post /message/create/ "$b"
		expect_error 400 invalid_json invalid_field || { echo "body sent: $b" >&2; return 1; }
	done
}

@test "a logout body that is not JSON: 400 invalid_json" {
	post /logout 'nope'
	expect_error 400 invalid_json
	get '/peerinfo?username=alice'
	expect 200 '.online == true'
}

@test "very deep nesting is refused, not a crash" {
	{
		printf '{"username":"carol","port":5000,"x":'
		head -c 100000 /dev/zero | tr '\0' '['
		head -c 100000 /dev/zero | tr '\0' ']'
		printf '}'
	} >"$BATS_TEST_TMPDIR/deep.json"
	post_file /register "$BATS_TEST_TMPDIR/deep.json"
	expect_error 400 invalid_json invalid_field
	get /healthz
	expect 200
}

@test "port of a wrong type or out of range: 400" {
	# A wrong JSON type is a bad field; the contract's invalid_port fits too.
	for p in true false null 1.5 5000.0 1e3 '"abc"' '"12a"' '""' '" 5000"' '"-1"' '[5000]' '{}'; do
		bad_register "{\"username\":\"carol\",\"ip\":\"10.0.0.1\",\"port\":$p}" invalid_port invalid_field
	done
	for p in 0 -1 65536 70000 '"0"' '"65536"' '"70000"' '"99999999999999999999"'; do
		bad_register "{\"username\":\"carol\",\"ip\":\"10.0.0.1\",\"port\":$p}" invalid_port
	done
	# Too big for a JSON parser's integers, so a parse error is fair too.
	bad_register '{"username":"carol","ip":"10.0.0.1","port":99999999999999999999}' invalid_port invalid_json
	get '/peerinfo?username=carol'
	expect_error 404 peer_not_found
}

@test "fields of a wrong type: 400" {
	bad_register '{"username":42,"ip":"10.0.0.1","port":5000}' invalid_field invalid_username
	bad_register '{"username":["carol"],"port":5000}' invalid_field invalid_username
	bad_register '{"username":null,"port":5000}' invalid_field invalid_username
	bad_register '{"username":"carol","ip":1,"port":5000}' invalid_field invalid_ip
	bad_register '{"username":"carol","ip":{},"port":5000}' invalid_field invalid_ip
	for b in \
		'{"sender":"alice","receiver":"bob","content":{"text":"hi"}}' \
		'{"sender":"alice","receiver":"bob","content":["hi"]}' \
		'{"sender":"alice","receiver":"bob","content":42}' \
		'{"sender":"alice","receiver":"bob","content":null}' \
		'{"sender":"alice","receiver":"bob","content":true}' \
		'{"messages":{"sender":"alice"}}' \
		'{"messages":"x"}' \
		'{"messages":[1,2]}' \
		'{"messages":[["alice","bob","hi"]]}'; do
		post /message/create/ "$b"
		expect_error 400 invalid_field || { echo "body sent: $b" >&2; return 1; }
	done
	for b in \
		'{"sender":1,"receiver":"bob","content":"hi"}' \
		'{"sender":"alice","receiver":true,"content":"hi"}'; do
		post /message/create/ "$b"
		expect_error 400 invalid_field invalid_username || { echo "body sent: $b" >&2; return 1; }
	done
	for b in '{"sender":"alice","receiver":"bob","content":"hi","uid":7}' \
		'{"sender":"alice","receiver":"bob","content":"hi","uid":["u"]}'; do
		post /message/create/ "$b"
		expect_error 400 invalid_field invalid_uid || { echo "body sent: $b" >&2; return 1; }
	done
	post /friend/start/ '{"user1":"alice","user2":["bob"]}'
	expect_error 400 invalid_field invalid_username
	post /friend/start/ '{"user1":1,"user2":"bob"}'
	expect_error 400 invalid_field invalid_username
	post /logout '{"username":5}'
	expect_error 400 invalid_field invalid_username
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
}

@test "missing fields: 400 invalid_field" {
	bad_register '{"ip":"10.0.0.1","port":5000}' invalid_field
	bad_register '{"username":"carol","ip":"10.0.0.1"}' invalid_field
	bad_register '{}' invalid_field
	for b in '{"receiver":"bob","content":"hi"}' '{"sender":"alice","content":"hi"}' \
		'{"sender":"alice","receiver":"bob"}' '{}'; do
		post /message/create/ "$b"
		expect_error 400 invalid_field || { echo "body sent: $b" >&2; return 1; }
	done
}

@test "invalid usernames: 400 invalid_username, everywhere a name goes" {
	long=$(repeat a 51)
	for u in '' "$long" .alice _alice -alice 'al ice' 'al/ice' 'al\\ice' \
		'al@ice' 'ålice' 'alice\n' 'alice\t'; do
		bad_register "{\"username\":\"$u\",\"ip\":\"10.0.0.1\",\"port\":5000}" invalid_username
		post /friend/start/ "{\"user1\":\"alice\",\"user2\":\"$u\"}"
		expect_error 400 invalid_username || { echo "user2: $u" >&2; return 1; }
		post /message/create/ "{\"sender\":\"$u\",\"receiver\":\"bob\",\"content\":\"x\"}"
		expect_error 400 invalid_username || { echo "sender: $u" >&2; return 1; }
		post /logout "{\"username\":\"$u\"}"
		expect_error 400 invalid_username || { echo "logout: $u" >&2; return 1; }
	done
	get /peers
	expect 200 '[.peers[].username] == ["alice", "bob"]'
}

@test "invalid usernames in the query: 400 invalid_username" {
	long=$(repeat a 51)
	for u in "$long" .alice 'al%20ice' 'al%2Fice' '%C3%A5lice' '%FF' 'a%00b'; do
		get "/peerinfo?username=$u"
		expect_error 400 invalid_username || { echo "peerinfo $u" >&2; return 1; }
		get "/friend/get/?username=$u"
		expect_error 400 invalid_username || { echo "friend/get $u" >&2; return 1; }
		get "/message/inbox/?username=$u"
		expect_error 400 invalid_username || { echo "inbox $u" >&2; return 1; }
		get "/message/get/?peer1=alice&peer2=$u"
		expect_error 400 invalid_username || { echo "get $u" >&2; return 1; }
	done
	# An empty value: missing or invalid, both are fair.
	get '/peerinfo?username='
	expect_error 400 invalid_username invalid_field
}

@test "invalid IPs: 400 invalid_ip" {
	for ip in 999.1.1.1 abc 1.2.3 1.2.3.4.5 '' ' 10.0.0.1' '10.0.0.1 ' ::g \
		'[::1]' 'fe80::1%lo' '10.0.0.1:80' '1:2:3:4:5:6:7:8:9' localhost; do
		bad_register "{\"username\":\"carol\",\"ip\":\"$ip\",\"port\":5000}" invalid_ip
	done
	get '/peerinfo?username=carol'
	expect_error 404 peer_not_found
}

@test "invalid uids: 400 invalid_uid" {
	long=$(repeat a 65)
	for u in '' "$long" 'a b' 'a/b' 'ü' 'a\nb' 'a\"b' 'a+b'; do
		post /message/create/ "{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"x\",\"uid\":\"$u\"}"
		expect_error 400 invalid_uid || { echo "uid: $u" >&2; return 1; }
	done
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
}

@test "invalid UTF-8 in a body: 400 invalid_json" {
	for bytes in '\xff' '\xc3\x28' '\xe2\x82' '\xed\xa0\x80' '\xf8\x88\x80\x80\x80' '\xc0\xaf'; do
		b=$(printf '{"sender":"alice","receiver":"bob","content":"a%b"}' "$bytes")
		post /message/create/ "$b"
		expect_error 400 invalid_json || { echo "bytes: $bytes" >&2; return 1; }
		b=$(printf '{"username":"car%b","port":5000}' "$bytes")
		bad_register "$b" invalid_json
	done
	b=$(printf '{"sender":"alice","receiver":"bob","content":"ok"}\xff')
	post /message/create/ "$b"
	expect_error 400 invalid_json
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
}

@test "lone surrogates and NUL in content: 400" {
	for c in '\ud800' 'a\udc00b' '\u0000' 'a\u0000b'; do
		post /message/create/ "{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"$c\"}"
		expect_error 400 invalid_json invalid_field || { echo "content: $c" >&2; return 1; }
	done
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
}

@test "bad paging parameters: 400 bad_param" {
	for q in limit=0 limit=abc limit=100000 limit=1001 limit=-1 limit= limit=1.5 \
		limit=10abc 'limit=%2010' limit=99999999999999999999 online=2 online=yes online=; do
		get "/peers?$q"
		expect_error 400 bad_param || { echo "/peers?$q" >&2; return 1; }
	done
	for path in '/message/get/?peer1=alice&peer2=bob' '/message/inbox/?username=bob'; do
		for q in after=-1 after=abc after=1.5 after= after=99999999999999999999 \
			limit=0 limit=abc limit=100000 limit=1001 limit=-5 \
			last=0 last=-1 last=abc last=1.5 last=; do
			get "$path&$q"
			expect_error 400 bad_param || { echo "$path&$q" >&2; return 1; }
		done
	done
}

@test "paging limits at the edges are accepted" {
	get '/peers?limit=1'
	expect 200 '.peers | length == 1'
	get '/peers?limit=1000'
	expect 200 '.peers | length == 2'
	get '/message/get/?peer1=alice&peer2=bob&limit=1000&after=0'
	expect 200 '.messages == []'
	get '/message/inbox/?username=bob&limit=1'
	expect 200 '.messages == []'
	get '/message/inbox/?username=bob&last=1000'
	expect 200 '.messages == []'
}

@test "a batch of more than 10000 messages: 400, nothing stored" {
	jq -nc '{messages: [range(10001) | {sender: "alice", receiver: "bob", content: ""}]}' \
		>"$BATS_TEST_TMPDIR/batch.json"
	post_file /message/create/ "$BATS_TEST_TMPDIR/batch.json"
	expect_error 400 invalid_field
	get '/message/inbox/?username=bob'
	expect 200 '.messages == []'
}

@test "a body over the default 1 MiB: 413 body_too_large" {
	head -c 1100000 /dev/zero | tr '\0' a |
		jq -Rc '{sender: "alice", receiver: "bob", content: .}' >"$BATS_TEST_TMPDIR/big.json"
	post_file /message/create/ "$BATS_TEST_TMPDIR/big.json"
	expect_error 413 body_too_large
	get /healthz
	expect 200
}

@test "content over the default 96 KiB (the envelope of a 64 KiB text): 413 content_too_large" {
	head -c 98305 /dev/zero | tr '\0' a |
		jq -Rc '{sender: "alice", receiver: "bob", content: .}' >"$BATS_TEST_TMPDIR/big.json"
	post_file /message/create/ "$BATS_TEST_TMPDIR/big.json"
	expect_error 413 content_too_large
	head -c 98304 /dev/zero | tr '\0' a |
		jq -Rc '{sender: "alice", receiver: "bob", content: .}' >"$BATS_TEST_TMPDIR/ok.json"
	post_file /message/create/ "$BATS_TEST_TMPDIR/ok.json"
	expect 201
}

@test "garbage on the socket does not hurt the daemon; no request got a 5xx" {
	exec 7<>"/dev/tcp/127.0.0.1/$DIRD_PORT"
	printf 'GARBAGE \x00\xff\r\n\r\n' >&7
	timeout 3 cat <&7 >/dev/null || true
	exec 7<&-
	exec 7<>"/dev/tcp/127.0.0.1/$DIRD_PORT"
	printf 'POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"user' >&7
	exec 7<&-
	exec 7<>"/dev/tcp/127.0.0.1/$DIRD_PORT"
	printf 'GET /peers HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >&7
	timeout 3 cat <&7 >/dev/null || true
	exec 7<&-
	get /healthz
	expect 200 '.status == "ok"'
	get '/peerinfo?username=alice'
	expect 200
	no_5xx_logged
}
