#!/usr/bin/env bats
# Sealed history: what chat-send stores for a keyed peer is an envelope
# the directory cannot read; chat-history opens it for either side, and
# drops with a warning (exit 65) what was altered, moved or forged.

bats_require_minimum_version 1.5.0

load helper

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	unset CHAT_USER CHAT_TIMEOUT
	start_dird
	for u in alice bob carol; do chat-register -u "$u" -p 1 >/dev/null; done
	# Nobody listens on port 1: chat-send stores only.
	LISTEN_PID=
}

teardown() {
	if [ -n "$LISTEN_PID" ]; then
		kill "$LISTEN_PID" 2>/dev/null || true
		wait "$LISTEN_PID" 2>/dev/null || true
	fi
	stop_dird
}

# send FROM TO TEXT: chat-send stores it; prints its id.
send() {
	local out
	out=$(chat-send -u "$1" "$2" "$3" 2>/dev/null) || true
	printf '%s\n' "$out" | jq -e '.stored == true' >/dev/null ||
		{ echo "send $1 $2: $out" >&2; return 1; }
	printf '%s\n' "$out" | jq -r .id
}

# content ID: the content the directory keeps for message ID.
content() {
	db_sql "SELECT content FROM messages WHERE id = $1"
}

# set_content ID TEXT: replaces message ID's content in the database.
set_content() {
	db_sql "UPDATE messages SET content = '$2' WHERE id = $1" >/dev/null
}

# texts: the texts of the JSON lines in $output, space-separated.
texts() {
	printf '%s\n' "$output" | grep '^{' | jq -r .text | tr '\n' ' '
}

@test "stored by chat-send, sealed: the recipient and the sender read the same texts back" {
	send alice bob "first secret" >/dev/null
	printf 'second secret\nthird secret\n' | chat-send -u alice bob >/dev/null 2>&1 || true
	run --separate-stderr chat-history -u bob alice
	[ "$status" -eq 0 ]
	[ "$(texts)" = "first secret second secret third secret " ]
	printf '%s\n' "$output" | jq -es 'all(.sealed == true and .from == "alice" and .to == "bob" and (.uid | length) == 32 and (.id | type) == "number" and (.ts | type) == "string")'
	run --separate-stderr chat-history -u alice bob
	[ "$status" -eq 0 ]
	[ "$(texts)" = "first secret second secret third secret " ]
	[ -z "$stderr" ]
}

@test "the directory's database holds none of the texts, only envelopes" {
	send alice bob "the cake is a lie" >/dev/null
	send bob alice "nobody must know" >/dev/null
	run db_sql "SELECT content FROM messages"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^{"sealed":3,"c":"')" -eq 2 ]
	run ! grep -e "cake is a lie" -e "nobody must know" <<<"$output"
	if [ "${DIRD_DB#postgres}" = "$DIRD_DB" ]; then
		stop_dird
		run ! grep -a -e "cake is a lie" -e "nobody must know" -- "$DIRD_DB"*
		run strings -- "$DIRD_DB"
		grep -q '"sealed":3' <<<"$output"
	fi
}

@test "the first sealing pins the recipient's key from the directory" {
	[ ! -e "$CHAT_HOME/keys/alice.pins" ] || run ! grep -q '^bob ' "$CHAT_HOME/keys/alice.pins"
	send alice bob "hi" >/dev/null
	api GET "/peerinfo?username=bob"
	expect 200 '.key | length == 44'
	grep -qxF "bob $(jq -r .key <<<"$body")" "$CHAT_HOME/keys/alice.pins"
}

@test "a third user cannot open an envelope moved into her conversation" {
	id=$(send alice bob "for bob only")
	cid=$(send alice carol "for carol")
	set_content "$cid" "$(content "$id")"
	run --separate-stderr chat-history -u carol alice
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	[[ $stderr == *"message $cid: "*"dropped"* ]]
	run ! grep -q "for bob only" <<<"$output$stderr"
}

@test "an envelope altered in the database is dropped with a warning, the others printed" {
	send alice bob "one" >/dev/null
	id=$(send alice bob "two")
	send alice bob "three" >/dev/null
	env=$(content "$id")
	c=$(jq -r .c <<<"$env")
	# One base64 character of the ciphertext changed.
	flip=A
	[ "${c:10:1}" = A ] && flip=B
	set_content "$id" "$(jq -c --arg c "${c:0:10}$flip${c:11}" '.c = $c' <<<"$env")"
	run --separate-stderr chat-history -u bob alice
	[ "$status" -eq 65 ]
	[ "$(texts)" = "one three " ]
	[[ $stderr == *"message $id: envelope altered; dropped"* ]]
	run --separate-stderr chat-history -u alice bob
	[ "$status" -eq 65 ]
	[ "$(texts)" = "one three " ]
}

@test "an envelope swapped between two conversations is dropped" {
	ab=$(send alice bob "alice to bob")
	ca=$(send carol alice "carol to alice")
	set_content "$ca" "$(content "$ab")"
	run --separate-stderr chat-history -u alice carol
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	# the names and the uid are bound: it opens as altered
	[[ $stderr == *"message $ca: envelope altered; dropped"* ]]
	# And one moved within the same conversation, onto another uid.
	ab2=$(send alice bob "second")
	set_content "$ab2" "$(content "$ab")"
	run --separate-stderr chat-history -u bob alice
	[ "$status" -eq 65 ]
	[ "$(texts)" = "alice to bob " ]
	[[ $stderr == *"message $ab2: envelope altered; dropped"* ]]
}

@test "an envelope signed with another key than alice's is dropped" {
	id=$(send alice bob "genuine")
	send alice bob "after" >/dev/null
	uid=$(db_sql "SELECT uid FROM messages WHERE id = $id")
	bobpk=$(awk '$1 == "bob" { print $2 }' "$CHAT_HOME/keys/alice.pins")
	# A forger's key pair, and an envelope it seals as alice's to bob.
	forged=$(/usr/bin/python3 - "$uid" "$bobpk" <<'EOF' | "$BATS_TEST_DIRNAME/interop/envelope.py" seal | jq -r .envelope
import base64, json, sys
from nacl import bindings as b
pk, sk = b.crypto_sign_keypair()
print(json.dumps({"uid": sys.argv[1], "from": "alice", "to": "bob",
    "ts": "2026-12-03T12:00:00.000Z", "text": "forged",
    "sender": {"sk": sk.hex(), "pk": pk.hex()},
    "recipient": {"pk": base64.b64decode(sys.argv[2]).hex()}}))
EOF
)
	[[ $forged == '{"sealed":1,'* ]]
	set_content "$id" "$forged"
	run --separate-stderr chat-history -u bob alice
	[ "$status" -eq 65 ]
	[ "$(texts)" = "after " ]
	[[ $stderr == *"message $id: bad signature; dropped"* ]]
}

@test "chat-history -f drops a forged message and goes on" {
	id=$(send alice bob "before")
	chat-history -f -u bob alice >"$BATS_TEST_TMPDIR/f.out" 2>"$BATS_TEST_TMPDIR/f.err" &
	LISTEN_PID=$!
	for _ in $(seq 1 100); do grep -q before "$BATS_TEST_TMPDIR/f.out" && break; sleep 0.1; done
	# carol stores alice's envelope as her own message to bob.
	api_as carol POST /message/create/ "$(jq -nc --arg c "$(content "$id")" '{sender: "carol", receiver: "bob", content: $c}')"
	expect 201
	api_as alice POST /message/create/ "$(jq -nc --arg c "$(content "$id")" '{sender: "alice", receiver: "bob", content: $c, uid: "replayed-1"}')"
	expect 201
	send alice bob "last" >/dev/null
	for _ in $(seq 1 100); do grep -q last "$BATS_TEST_TMPDIR/f.out" && break; sleep 0.1; done
	kill "$LISTEN_PID"
	wait_pid "$LISTEN_PID" 5
	LISTEN_PID=
	[ "$wait_rc" -eq 65 ]
	[ "$(jq -r .text "$BATS_TEST_TMPDIR/f.out" | tr '\n' ' ')" = "before last " ]
	# bound to alice's first message, it does not open as another
	[ "$(grep -c "envelope altered; dropped" "$BATS_TEST_TMPDIR/f.err")" -eq 1 ]
}

@test "a client of the original API sees the envelope as the message's text" {
	send alice bob "plain to nobody" >/dev/null
	api_as alice GET "/message/get/?peer1=alice&peer2=bob"
	expect 200 '.messages[0].message | fromjson | .sealed == 3 and (.c | type) == "string" and (keys == ["c", "sealed"])'
	run ! grep -q "plain to nobody" <<<"$body"
}

@test "a recipient without a key (a seed client's name) gets plain text" {
	api POST /register '{"username":"seedy","ip":"127.0.0.1","port":5}'
	expect 201
	id=$(send alice seedy "hello seed")
	[ "$(content "$id")" = "hello seed" ]
	api_as alice GET "/message/get/?peer1=seedy&peer2=alice"
	expect 200 '.messages[0].message == "hello seed"'
	run --separate-stderr chat-history -u alice seedy
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.text == "hello seed" and (has("sealed") | not)'
	run ! grep -q seedy "$CHAT_HOME/keys/alice.pins"
}

@test "chat-listen's catch-up prints the opened message" {
	send alice bob "while you were away" >/dev/null
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen.out
	chat-listen -u bob -a 127.0.0.1 >"$LISTEN_OUT" 2>"$BATS_TEST_TMPDIR/listen.err" &
	LISTEN_PID=$!
	for _ in $(seq 1 100); do grep -q '"offline":true' "$LISTEN_OUT" && break; sleep 0.1; done
	grep '"offline":true' "$LISTEN_OUT" | jq -e '.text == "while you were away" and .from == "alice"'
}

@test "the longest text chat-send takes (64 KiB) is stored sealed within the directory's default limit" {
	head -c 65536 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/long"
	run --separate-stderr chat-send -u alice bob <"$BATS_TEST_TMPDIR/long"
	printf '%s\n' "$output" | jq -e '.stored == true'
	run --separate-stderr chat-history -u bob alice
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.sealed == true and (.text | length) == 65536'
}

@test "12,000 sealed messages, sealed in batches while the ones before are posted: each stored once, in order" {
	seq 1 12000 | sed 's/^/secret /' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr chat-send -u alice bob <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 12000 ]
	# Every status line says stored, and the ids grow with the input.
	printf '%s\n' "$output" | jq -es 'all(.stored == true) and ([.[].id] | . == sort and . == unique)'
	[ "$(db_sql 'SELECT count(*) FROM messages')" -eq 12000 ]
	run --separate-stderr chat-history -u bob alice
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -r 'select(.sealed == true) | .text' | cmp - "$BATS_TEST_TMPDIR/in"
}
