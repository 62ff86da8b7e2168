#!/usr/bin/env bats
# Identity at the directory: a name is bound to the first key it
# registers with, and from then on only that key's signature acts for it
# or reads what is private to it. Each attack is a real request to a real
# chat-dird, answered 401 or 403, and changes nothing in the store.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

setup() {
	start_dird
	# alice and bob register with the programs, which make their keys;
	# carol registers as the seed's client does, with no key.
	chat-register -u alice -p 5001 >/dev/null
	chat-register -u bob -p 5002 >/dev/null
	register carol 5003
	ALICE_KEY=$(chat-key -u alice | jq -r .key)
	# mallory has a key of her own, filed under the name alice
	MALLORY=$BATS_TEST_TMPDIR/mallory
	mkdir -p "$MALLORY"
}
teardown() {
	if [ -n "${FOLLOW_PID:-}" ]; then
		kill "$FOLLOW_PID" 2>/dev/null || true
		wait "$FOLLOW_PID" 2>/dev/null || true
	fi
	stop_dird
	check_errors
}

# sign [--as HOME] [--time MS] USER METHOD TARGET [BODY]: the Chat-Signature
# header's value for the request, made by chat-key (with another CHAT_HOME
# for --as).
sign() {
	local home=$CHAT_HOME t=()
	while :; do
		case $1 in
		--as) home=$2; shift 2 ;;
		--time) t=(--time "$2"); shift 2 ;;
		*) break ;;
		esac
	done
	local user=$1 method=$2 target=$3
	if [ $# -ge 4 ]; then
		printf '%s' "$4" | CHAT_HOME=$home chat-key -u "$user" "${t[@]}" \
			sign "$method" "$target" - | jq -r .value
	else
		CHAT_HOME=$home chat-key -u "$user" "${t[@]}" sign "$method" \
			"$target" | jq -r .value
	fi
}

# spost SIG PATH JSON / sget SIG PATH: requests carrying a signature.
spost() {
	req POST "$2" -H 'Content-Type: application/json' \
		-H "Chat-Signature: $1" --data-binary "$3"
}
sget() {
	req GET "$2" -H "Chat-Signature: $1"
}

# port_of NAME: the port the directory has for NAME.
port_of() {
	curl -s "$CHAT_SERVER/peerinfo?username=$1" | jq -r .port
}

# has_logged JQ-COND: some request line of the daemon's log meets it.
has_logged() {
	jq -s -e "any(.[]; $1)" "$DIRD_LOG" >/dev/null 2>&1
}

# messages: how many messages the directory holds.
messages() {
	db_sql 'SELECT count(*) FROM messages'
}

@test "a keyed registration binds the name; /peers and /peerinfo show the key" {
	get '/peerinfo?username=alice'
	expect 200 ".key == \"$ALICE_KEY\""
	get /peers
	expect 200 "(.peers[] | select(.username == \"alice\") | .key) == \"$ALICE_KEY\""
	expect 200 '(.peers[] | select(.username == "carol") | has("key")) == false'
	run chat-peers alice
	[ "$status" -eq 0 ]
	[ "$(jq -r .key <<<"$output")" = "$ALICE_KEY" ]
}

@test "register over a keyed name without a key: 401, the address stays" {
	post /register '{"username":"alice","ip":"127.0.0.1","port":6666}'
	expect_error 401 signature_required
	post /register '{"username":"ALICE","port":6666}'
	expect_error 401 signature_required
	[ "$(port_of alice)" = 5001 ]
}

@test "register over a keyed name with another key: 403, the key stays" {
	mkey=$(CHAT_HOME=$MALLORY chat-key -u alice | jq -r .key)
	b="{\"username\":\"alice\",\"port\":6666,\"key\":\"$mkey\"}"
	spost "$(sign --as "$MALLORY" alice POST /register "$b")" /register "$b"
	expect_error 403 key_mismatch
	[ "$(port_of alice)" = 5001 ]
	get '/peerinfo?username=alice'
	expect 200 ".key == \"$ALICE_KEY\""
	# and a key claimed without its signature is refused before anything
	post /register "$b"
	expect_error 401 signature_required
}

@test "binding a key takes that key's signature: a claimed key is refused" {
	# mallory claims bob's public key for a new name, signing with hers
	bkey=$(chat-key -u bob | jq -r .key)
	b="{\"username\":\"eve\",\"port\":6666,\"key\":\"$bkey\"}"
	spost "$(sign --as "$MALLORY" eve POST /register "$b")" /register "$b"
	expect_error 401 bad_signature
	get '/peerinfo?username=eve'
	expect_error 404 peer_not_found
	# signed as another name than the one registered
	spost "$(sign bob POST /register "$b")" /register "$b"
	expect_error 403 forbidden
	get '/peerinfo?username=eve'
	expect_error 404 peer_not_found
}

@test "a signature by the wrong key: 401 bad_signature, nothing stored" {
	b='{"sender":"alice","receiver":"bob","content":"forged"}'
	spost "$(sign --as "$MALLORY" alice POST /message/create/ "$b")" \
		/message/create/ "$b"
	expect_error 401 bad_signature
	[ "$(messages)" = 0 ]
	b='{"username":"alice","port":6666}'
	spost "$(sign --as "$MALLORY" alice POST /register "$b")" /register "$b"
	expect_error 401 bad_signature
	[ "$(port_of alice)" = 5001 ]
}

@test "a tampered body, path or query under a valid signature: 401" {
	b='{"sender":"alice","receiver":"bob","content":"hi"}'
	s=$(sign alice POST /message/create/ "$b")
	spost "$s" /message/create/ '{"sender":"alice","receiver":"bob","content":"HI"}'
	expect_error 401 bad_signature
	spost "$s" /message/create "$b"
	expect_error 401 bad_signature
	[ "$(messages)" = 0 ]
	# the untouched request still passes, once
	spost "$s" /message/create/ "$b"
	expect 201
	s=$(sign alice GET '/message/inbox/?username=alice&limit=5')
	sget "$s" '/message/inbox/?username=alice&limit=50'
	expect_error 401 bad_signature
	sget "$s" '/message/inbox/?username=alice&limit=5&after=0'
	expect_error 401 bad_signature
	sget "$s" '/message/inbox/?username=alice&limit=5'
	expect 200
}

@test "a time too old or too far ahead: 401 stale_signature" {
	now=$(date +%s%3N)
	b='{"username":"alice"}'
	spost "$(sign --time $((now - 305000)) alice POST /logout "$b")" /logout "$b"
	expect_error 401 stale_signature
	spost "$(sign --time $((now + 305000)) alice POST /logout "$b")" /logout "$b"
	expect_error 401 stale_signature
	get '/peerinfo?username=alice'
	expect 200 '.online == true'
	# inside the window either way is fine
	spost "$(sign --time $((now + 200000)) alice POST /logout "$b")" /logout "$b"
	expect 200
}

@test "a narrower --auth-window is the window" {
	stop_dird
	start_dird --auth-window 10
	now=$(date +%s%3N)
	s=$(sign --time $((now - 20000)) alice GET '/friend/get/?username=alice')
	sget "$s" '/friend/get/?username=alice'
	expect_error 401 stale_signature
}

@test "a replayed request: 401 replayed_signature, stored once" {
	b='{"sender":"alice","receiver":"bob","content":"once"}'
	s=$(sign alice POST /message/create/ "$b")
	spost "$s" /message/create/ "$b"
	expect 201
	spost "$s" /message/create/ "$b"
	expect_error 401 replayed_signature
	[ "$(messages)" = 1 ]
	s=$(sign alice GET '/message/inbox/?username=alice')
	sget "$s" '/message/inbox/?username=alice'
	expect 200
	sget "$s" '/message/inbox/?username=alice'
	expect_error 401 replayed_signature
}

@test "someone else's conversation or inbox: 401 unsigned, 403 signed by another" {
	chat-send -u alice bob 'for bob only' >/dev/null
	get '/message/get/?peer1=alice&peer2=bob'
	expect_error 401 signature_required
	get '/message/inbox/?username=bob'
	expect_error 401 signature_required
	get '/friend/get/?username=bob'
	expect_error 401 signature_required
	# carol has no key; bob's key is not hers to use
	sget "$(sign carol GET '/message/get/?peer1=alice&peer2=bob')" \
		'/message/get/?peer1=alice&peer2=bob'
	expect_error 403 forbidden
	sget "$(sign alice GET '/message/inbox/?username=bob')" \
		'/message/inbox/?username=bob'
	expect_error 403 forbidden
	# a conversation with one keyed side: that side must sign
	get '/message/get/?peer1=carol&peer2=alice'
	expect_error 401 signature_required
	sget "$(sign alice GET '/message/get/?peer1=carol&peer2=alice')" \
		'/message/get/?peer1=carol&peer2=alice'
	expect 200
	# the two of them read it, through the programs
	run chat-history -u bob alice
	[ "$status" -eq 0 ]
	[ "$(jq -r .text <<<"$output")" = 'for bob only' ]
	run chat-history -u alice bob
	[ "$status" -eq 0 ]
	[ "$(jq -r .text <<<"$output")" = 'for bob only' ]
}

@test "sending, befriending and logging out as someone else: refused, nothing changes" {
	post /message/create/ '{"sender":"alice","receiver":"carol","content":"x"}'
	expect_error 401 signature_required
	b='{"messages":[{"sender":"bob","receiver":"carol","content":"x"},{"sender":"alice","receiver":"carol","content":"y"}]}'
	spost "$(sign bob POST /message/create/ "$b")" /message/create/ "$b"
	expect_error 403 forbidden
	[ "$(messages)" = 0 ]
	post /friend/start/ '{"user1":"alice","user2":"carol"}'
	expect_error 401 signature_required
	[ "$(db_sql 'SELECT count(*) FROM friendships')" = 0 ]
	post /logout '{"username":"alice"}'
	expect_error 401 signature_required
	get '/peerinfo?username=alice'
	expect 200 '.online == true'
	run chat-send -u carol alice 'carol has no key and may send'
	[ "$status" -eq 0 ]
	[ "$(messages)" = 1 ]
}

@test "malformed signature headers: 401 bad_signature_header, whatever the path" {
	good=$(sign alice GET '/peerinfo?username=alice')
	for h in 'v1' 'v2 alice 1 x' "v1 alice  ${good##* }" \
		"v1 alice 01 ${good##* }" "v1 alice -1 ${good##* }" \
		"v1 al!ce 1 ${good##* }" "v1 alice 1 ${good##* }=" \
		"v1 alice 1 ${good##* } x" "${good}x"; do
		sget "$h" '/peerinfo?username=alice'
		expect_error 401 bad_signature_header
	done
	b='{"sender":"alice","receiver":"bob","content":"x"}'
	spost 'v1 alice 1 AAAA' /message/create/ "$b"
	expect_error 401 bad_signature_header
	[ "$(messages)" = 0 ]
}

@test "names without a key keep the seed's open behaviour" {
	post /message/create/ '{"sender":"carol","receiver":"bob","content":"hi"}'
	expect 201
	post /friend/start/ '{"user1":"carol","user2":"bob"}'
	expect 200
	get '/message/inbox/?username=carol'
	expect 200
	get '/friend/get/?username=carol'
	expect 200 '.friends[0].username == "bob"'
	register carol 6003
	[ "$(port_of carol)" = 6003 ]
	post /logout '{"username":"carol"}'
	expect 200
}

@test "--require-keys: a registration without a key is refused with 403" {
	stop_dird
	rm -f "$DIRD_DB"
	start_dird --require-keys
	post /register '{"username":"dave","port":5004}'
	expect_error 403 key_required
	run chat-register -u dave -p 5004
	[ "$status" -eq 0 ]
	[ "$(jq -r .created <<<"$output")" = true ]
}

@test "a key is rotated with the old one's signature; the old key no longer acts" {
	cp -r "$CHAT_HOME" "$BATS_TEST_TMPDIR/before"
	run chat-key -u alice rotate
	[ "$status" -eq 0 ]
	new=$(jq -r .key <<<"$output")
	[ "$new" != "$ALICE_KEY" ]
	get '/peerinfo?username=alice'
	expect 200 ".key == \"$new\""
	b='{"username":"alice","port":7001}'
	spost "$(sign --as "$BATS_TEST_TMPDIR/before" alice POST /register "$b")" \
		/register "$b"
	expect_error 401 bad_signature
	run chat-register -u alice -p 7001
	[ "$status" -eq 0 ]
	[ "$(port_of alice)" = 7001 ]
	# a rotation the directory refuses leaves the local key as it was
	run env CHAT_HOME="$BATS_TEST_TMPDIR/before" chat-key -u alice rotate
	[ "$status" -eq 77 ]
	[ "$(CHAT_HOME=$BATS_TEST_TMPDIR/before chat-key -u alice | jq -r .key)" = "$ALICE_KEY" ]
}

@test "a rotation without the new key's proof is refused" {
	mkey=$(CHAT_HOME=$MALLORY chat-key -u alice | jq -r .key)
	b="{\"username\":\"alice\",\"key\":\"$mkey\",\"proof\":\"AAAA\"}"
	spost "$(sign alice POST /key/rotate "$b")" /key/rotate "$b"
	expect_error 400 bad_proof
	# a proof of the right shape, made by another key than the new one
	proof=$(sign alice GET /nothing | cut -d' ' -f4)
	b="{\"username\":\"alice\",\"key\":\"$mkey\",\"proof\":\"$proof\"}"
	spost "$(sign alice POST /key/rotate "$b")" /key/rotate "$b"
	expect_error 400 bad_proof
	b="{\"username\":\"carol\",\"key\":\"$mkey\",\"proof\":\"AAAA\"}"
	post /key/rotate "$b"
	expect_error 409 no_key
	get '/peerinfo?username=alice'
	expect 200 ".key == \"$ALICE_KEY\""
}

@test "the operator releases a name; the next keyed registration binds it anew" {
	chat-send -u alice bob 'kept' >/dev/null
	run chat-dird -d "$DIRD_DB" --release alice
	[ "$status" -eq 0 ]
	[ "$output" = '{"released":"alice"}' ]
	run chat-dird -d "$DIRD_DB" --release nobody
	[ "$status" -eq 67 ]
	get '/peerinfo?username=alice'
	expect 200 'has("key") == false'
	run env CHAT_HOME="$MALLORY" chat-register -u alice -p 5009
	[ "$status" -eq 0 ]
	get '/peerinfo?username=alice'
	expect 200 ".key != \"$ALICE_KEY\" and .port == 5009"
	# the history stayed
	[ "$(messages)" = 1 ]
}

@test "a secret key others may read is refused, as ssh refuses one" {
	chmod 644 "$CHAT_HOME/keys/alice.key"
	run chat-register -u alice -p 5001
	[ "$status" -eq 77 ]
	[[ "$output" == *"alice.key: permissions 0644 are too open"* ]]
	run chat-history -u alice
	[ "$status" -eq 77 ]
	[ "$(stat -c %a "$CHAT_HOME/keys")" = 700 ]
	[ "$(stat -c %a "$CHAT_HOME/keys/bob.key")" = 600 ]
}

@test "chat-key pins a peer's key from the directory and refuses a changed one" {
	run chat-key -u bob pin alice
	[ "$status" -eq 0 ]
	[ "$(jq -r .key <<<"$output")" = "$ALICE_KEY" ]
	grep -q "^alice $ALICE_KEY\$" "$CHAT_HOME/keys/bob.pins"
	chat-key -u alice rotate >/dev/null
	run chat-key -u bob pin alice
	[ "$status" -eq 65 ]
	[[ "$output" == *"alice is pinned to SHA256:"* ]]
	run chat-key -u bob replace alice
	[ "$status" -eq 0 ]
	[ "$(jq -r .replaced <<<"$output")" = true ]
	run chat-key -u bob forget alice
	[ "$status" -eq 0 ]
	run chat-key -u bob forget alice
	[ "$status" -eq 67 ]
	run chat-key -u bob pin carol
	[ "$status" -eq 65 ]
	run chat-key -u bob pin nobody
	[ "$status" -eq 67 ]
	run chat-key -u bob pin alice not-a-key
	[ "$status" -eq 65 ]
}

@test "a database from before keys gains the key column; nothing is lost" {
	[ -z "${CHAT_TEST_PG:-}" ] || skip "a SQLite file of the seed's schema"
	stop_dird
	rm -f "$DIRD_DB"
	sqlite3 "$DIRD_DB" <<-'SQL'
		CREATE TABLE peers (id INTEGER PRIMARY KEY,
		  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
		  ip TEXT NOT NULL, port INTEGER NOT NULL);
		CREATE TABLE friendships (owner INTEGER NOT NULL, friend INTEGER
		  NOT NULL, PRIMARY KEY (owner, friend)) WITHOUT ROWID;
		CREATE TABLE messages (id INTEGER PRIMARY KEY, sender INTEGER
		  NOT NULL, receiver INTEGER NOT NULL, content TEXT NOT NULL);
		INSERT INTO peers VALUES (1, 'erin', '10.0.0.1', 5001);
		INSERT INTO peers VALUES (2, 'frank', '10.0.0.2', 5002);
		INSERT INTO messages VALUES (1, 1, 2, 'from before');
		PRAGMA user_version = 1;
	SQL
	start_dird
	sqlite3 "$DIRD_DB" 'SELECT key FROM peers' >/dev/null
	run chat-register -u erin -p 5001
	[ "$status" -eq 0 ]
	[ "$(jq -r '.key | length' <<<"$output")" = 44 ]
	run chat-history -u erin frank
	[ "$status" -eq 0 ]
	[ "$(jq -r .text <<<"$output")" = 'from before' ]
	get '/message/get/?peer1=erin&peer2=frank'
	expect_error 401 signature_required
}

@test "a rotation that gets no answer keeps both keys and says so" {
	kill -STOP "$DIRD_PID"
	run env CHAT_TIMEOUT=1 chat-key -u alice rotate
	kill -CONT "$DIRD_PID"
	[ "$status" -eq 69 ] || [ "$status" -eq 75 ]
	[[ "$output" == *"cannot tell which key the directory has"* ]]
	[ -e "$CHAT_HOME/keys/alice.key.old" ]
	# The request may still be read once the daemon runs again: the key
	# the directory holds is in one of the two files, and it acts.
	sleep 0.5
	held=$(chat-peers alice | jq -r .key)
	new=$(chat-key -u alice | jq -r .key)
	[ "$held" = "$new" ] || [ "$held" = "$ALICE_KEY" ]
	if [ "$held" = "$ALICE_KEY" ]; then
		mv "$CHAT_HOME/keys/alice.key.old" "$CHAT_HOME/keys/alice.key"
	fi
	run chat-register -u alice -p 5001
	[ "$status" -eq 0 ]
}

@test "a busy client opens a session; its MACs store everything" {
	(
		for i in 1 2 3; do
			seq 1 2000 | sed "s/^/round $i: /"
			sleep 0.3
		done
	) | chat-send -u alice bob >"$BATS_TEST_TMPDIR/sent"
	[ "$(jq -s 'map(select(.stored)) | length' "$BATS_TEST_TMPDIR/sent")" = 6000 ]
	[ "$(messages)" = 6000 ]
	has_logged '.path == "/session" and .status == 201'
	if has_logged '.status == 401'; then echo 'a 401 was logged' >&2; false; fi
}

@test "sessions made by another implementation: s1 and s2 taken, wrong MACs refused" {
	# tests/interop/session.py: PyNaCl, hashlib and hmac, not our code
	run /usr/bin/python3 "$BATS_TEST_DIRNAME/interop/session.py" \
		"$CHAT_SERVER" "$CHAT_HOME/keys/alice.key" alice
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' 'session 201' 's1 200' 's2 200' \
		's2-other-target 401' 's2-sent-as-s1 401')" ]
}

@test "the programs MAC with s2 in a session; the log says each request's kind" {
	# three batches, so that the session opens before the last
	(
		for i in 1 2 3 4; do
			seq 1 20 | sed "s/^/round $i: /"
			sleep 0.3
		done
	) | chat-send -u alice bob >/dev/null
	# the first requests are signed (v1), those after the session s2
	has_logged '.path == "/session" and .status == 201 and .auth == "v1"'
	has_logged '.path == "/message/create/" and .status == 201 and .auth == "s2"'
	if has_logged '.auth == "s1"'; then echo 'an s1 MAC was sent' >&2; false; fi
	if has_logged '.status == 401'; then echo 'a 401 was logged' >&2; false; fi
	# an unsigned request has no auth in its line
	curl -s "$CHAT_SERVER/healthz" >/dev/null
	has_logged '.path == "/healthz" and (has("auth") | not)'
}

@test "a directory restarted under a client's session: it signs again and goes on" {
	chat-send -u alice bob one >/dev/null
	chat-history -u bob alice -f >"$BATS_TEST_TMPDIR/follow" 2>&1 3>&- &
	follow=$!
	FOLLOW_PID=$follow
	for _ in $(seq 1 100); do
		grep -q '"one"' "$BATS_TEST_TMPDIR/follow" && break
		sleep 0.1
	done
	# each message wakes a fetch; a third signed request goes in a session
	for i in 1 2 3; do
		chat-send -u alice bob "more$i" >/dev/null
		for _ in $(seq 1 100); do
			grep -q "\"more$i\"" "$BATS_TEST_TMPDIR/follow" && break
			sleep 0.1
		done
	done
	for _ in $(seq 1 100); do
		has_logged '.path == "/session"' && break
		sleep 0.1
	done
	has_logged '.path == "/session" and .status == 201'
	port=$DIRD_PORT
	stop_dird
	start_dird -l "127.0.0.1:$port"
	chat-send -u alice bob two >/dev/null
	for _ in $(seq 1 100); do
		grep -q '"two"' "$BATS_TEST_TMPDIR/follow" && break
		sleep 0.1
	done
	kill "$follow"
	wait "$follow" || true
	grep -q '"two"' "$BATS_TEST_TMPDIR/follow"
	# the new daemon knew no session, and said so once
	has_logged '.status == 401'
}

@test "the same read by two programs in one second: both answered, neither taken for a replay" {
	chat-send -u alice bob "one" >/dev/null 2>&1 || true
	pids=()
	for i in 1 2 3 4 5 6; do
		chat-history -u bob alice >"$BATS_TEST_TMPDIR/h$i" 2>&1 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	for i in 1 2 3 4 5 6; do grep -q '"one"' "$BATS_TEST_TMPDIR/h$i"; done
	if has_logged '.status == 401'; then echo 'a 401 was logged' >&2; false; fi
}

@test "the same read twice in one frozen millisecond: both answered, neither taken for a replay" {
	command -v faketime >/dev/null || skip "faketime is not installed (.ci/deps installs it)"
	chat-send -u alice bob "one" >/dev/null 2>&1 || true
	# Both runs sign at the same instant: only the nonce tells them apart.
	t=$(TZ=UTC date '+%Y-%m-%d %H:%M:%S')
	for i in 1 2; do
		TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 \
			ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
			faketime -f "$t" chat-history -u bob alice >"$BATS_TEST_TMPDIR/h$i" 2>&1
	done
	grep -q '"one"' "$BATS_TEST_TMPDIR/h1"
	grep -q '"one"' "$BATS_TEST_TMPDIR/h2"
	if has_logged '.status == 401'; then echo 'a 401 was logged' >&2; false; fi
}
