#!/usr/bin/env bats
# Wire protocol v2 against a Noise not ours: our library (noise-peer)
# and Debian's python3-dissononce (noise_peer.py) do the handshake, IK
# and XX with SHA256 and BLAKE2b, each as either side, and swap streams
# over loopback TCP, one line longer than a frame; a static key that is
# not the pinned one fails the handshake on both sides.

bats_require_minimum_version 1.5.0

ROOT=$BATS_TEST_DIRNAME/..
PEER=$ROOT/${CHAT_BUILD:-build}/tests/interop/noise-peer
PY=$ROOT/tests/interop/noise_peer.py

setup() {
	[ -x "$PEER" ] || make -s -C "$ROOT" units >&2
	/usr/bin/python3 -c 'import dissononce' ||
		{ echo "python3-dissononce is missing (.ci/deps)" >&2; return 1; }
	W=$BATS_TEST_TMPDIR
	LISTEN_PID=
	# Keys made and turned public by Python's X25519, not by our code.
	lsec=$(/usr/bin/python3 -c 'import os; print(os.urandom(32).hex())')
	isec=$(/usr/bin/python3 -c 'import os; print(os.urandom(32).hex())')
	osec=$(/usr/bin/python3 -c 'import os; print(os.urandom(32).hex())')
	lpub=$(/usr/bin/python3 "$PY" --public "$lsec")
	ipub=$(/usr/bin/python3 "$PY" --public "$isec")
	opub=$(/usr/bin/python3 "$PY" --public "$osec")
	{
		echo '{"type":"hello","v":1,"from":"alice","to":"bob"}'
		for i in 1 2 3; do
			echo "{\"type\":\"msg\",\"uid\":\"u$i\",\"text\":\"hi $i\"}"
		done
		printf '{"type":"msg","uid":"long","text":"'
		head -c 150000 /dev/zero | tr '\0' y
		echo '"}'
		echo '{"type":"msg","uid":"u4","text":"after the long one"}'
	} >"$W/i.in"
	{
		echo '{"type":"hello","v":1,"from":"bob"}'
		for i in 1 2 3 long 4; do
			echo "{\"type\":\"ack\",\"uid\":\"u$i\"}"
		done
	} >"$W/l.in"
}

teardown() {
	if [ -n "$LISTEN_PID" ]; then
		kill "$LISTEN_PID" 2>/dev/null || true
		wait "$LISTEN_PID" 2>/dev/null || true
	fi
}

# listen c|py [ARGS]: starts a listener on an ephemeral port, waits up to
# 10 s for its "listening" line; sets LISTEN_PID and PORT.
listen() {
	local kind=$1
	shift
	if [ "$kind" = c ]; then
		"$PEER" -l -t 10 "$@" <"$W/l.in" >"$W/l.out" 2>"$W/l.err" &
	else
		/usr/bin/python3 "$PY" -l -t 10 "$@" <"$W/l.in" >"$W/l.out" \
			2>"$W/l.err" &
	fi
	LISTEN_PID=$!
	for _ in $(seq 1 200); do
		if head -n 1 "$W/l.out" | grep -q '"listening"'; then
			PORT=$(head -n 1 "$W/l.out" | jq .port)
			return 0
		fi
		kill -0 "$LISTEN_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "the $kind listener did not start:" >&2
	cat "$W/l.err" >&2
	return 1
}

# call c|py ARGS: the sender, to PORT; its exit status in $sstatus.
call() {
	local kind=$1
	shift
	sstatus=0
	if [ "$kind" = c ]; then
		"$PEER" -c "$PORT" -t 10 "$@" <"$W/i.in" >"$W/i.out" \
			2>"$W/i.err" || sstatus=$?
	else
		/usr/bin/python3 "$PY" -c "$PORT" -t 10 "$@" <"$W/i.in" \
			>"$W/i.out" 2>"$W/i.err" || sstatus=$?
	fi
}

# wait_listener: waits for the listener (its own -t bounds the wait);
# its exit status in $lstatus.
wait_listener() {
	lstatus=0
	wait "$LISTEN_PID" || lstatus=$?
	LISTEN_PID=
}

# swap LISTENER SENDER PATTERN HASH: a whole exchange, checked both ways.
swap() {
	listen "$1" -k "$lsec" -r "$ipub"
	call "$2" -p "$3" -H "$4" -k "$isec" -r "$lpub"
	[ "$sstatus" -eq 0 ] || { cat "$W/i.err" >&2; return 1; }
	wait_listener
	[ "$lstatus" -eq 0 ] || { cat "$W/l.err" >&2; return 1; }
	tail -n +2 "$W/l.out" | cmp - "$W/i.in"
	cmp "$W/i.out" "$W/l.in"
	[ "$(tail -n +2 "$W/l.out" | wc -l)" -eq 6 ]
	[ "$(sed -n 5p "$W/i.in" | wc -c)" -gt 65535 ]
}

@test "dissononce calls ours: IK, SHA256" { swap c py IK SHA256; }
@test "dissononce calls ours: IK, BLAKE2b" { swap c py IK BLAKE2b; }
@test "dissononce calls ours: XX, SHA256" { swap c py XX SHA256; }
@test "dissononce calls ours: XX, BLAKE2b" { swap c py XX BLAKE2b; }
@test "ours calls dissononce: IK, SHA256" { swap py c IK SHA256; }
@test "ours calls dissononce: IK, BLAKE2b" { swap py c IK BLAKE2b; }
@test "ours calls dissononce: XX, SHA256" { swap py c XX SHA256; }
@test "ours calls dissononce: XX, BLAKE2b" { swap py c XX BLAKE2b; }

# refused WHO: both sides fail with status 76, and the side WHO (l or i,
# or none) says the key is wrong; neither got a byte of data.
refused() {
	local who=$1
	[ "$sstatus" -eq 76 ] || { cat "$W/i.err" >&2; return 1; }
	wait_listener
	[ "$lstatus" -eq 76 ] || { cat "$W/l.err" >&2; return 1; }
	[ ! -s "$W/i.out" ]
	[ "$(wc -l <"$W/l.out")" -eq 1 ]
	grep -q "handshake" "$W/i.err"
	grep -q "handshake" "$W/l.err"
	case $who in
	i) grep -q "pinned" "$W/i.err" ;;
	l) grep -q "pinned" "$W/l.err" ;;
	esac
}

@test "IK to a listener whose key is not the one the sender has: refused" {
	for pair in "c py" "py c"; do
		read -r l s <<<"$pair"
		listen "$l" -k "$lsec"
		call "$s" -p IK -H SHA256 -k "$isec" -r "$opub"
		refused none
	done
}

@test "XX: the listener's key is not the one the sender pinned: refused" {
	for pair in "c py" "py c"; do
		read -r l s <<<"$pair"
		listen "$l" -k "$lsec"
		call "$s" -p XX -H BLAKE2b -k "$isec" -r "$opub"
		refused i
	done
}

@test "the sender's key is not the one the listener pinned: refused" {
	for pat in IK XX; do
		for pair in "c py" "py c"; do
			read -r l s <<<"$pair"
			listen "$l" -k "$lsec" -r "$opub"
			call "$s" -p "$pat" -H SHA256 -k "$isec" -r "$lpub"
			refused l
		done
	done
}

# The real programs against dissononce. chat_keys.py reads a chat key
# file with PyNaCl: the X25519 secret and public keys, the Ed25519 key.

# chat_user NAME: a key for NAME under $W/home; sets X_SEC, X_PUB, ED.
chat_user() {
	CHAT_HOME=$W/home chat-key -u "$1" >/dev/null
	mapfile -t k < <(/usr/bin/python3 "$ROOT/tests/interop/chat_keys.py" "$W/home/keys/$1.key")
	X_SEC=${k[0]} X_PUB=${k[1]} ED=${k[2]}
}

# real_listen: chat-listen -u bob, no directory; sets LISTEN_PID, PORT.
real_listen() {
	CHAT_HOME=$W/home chat-listen -u bob -a 127.0.0.1 -s http://127.0.0.1:1 \
		--no-register --no-catch-up >"$W/bob.out" 2>"$W/bob.err" &
	LISTEN_PID=$!
	for _ in $(seq 1 200); do
		grep -q '"listening"' "$W/bob.out" && break
		sleep 0.05
	done
	PORT=$(head -n 1 "$W/bob.out" | jq .port)
}

@test "dissononce calls the real chat-listen: IK and XX, SHA256 and BLAKE2b; a stranger's key is refused" {
	chat_user bob
	bob_pub=$X_PUB
	chat_user alice
	real_listen
	for hs in "IK SHA256" "XX BLAKE2b" "XX SHA256" "IK BLAKE2b"; do
		read -r pat hash <<<"$hs"
		uid="u-$pat-$hash"
		{
			echo "{\"type\":\"hello\",\"v\":1,\"from\":\"alice\",\"to\":\"bob\",\"key\":\"$ED\"}"
			echo "{\"type\":\"msg\",\"uid\":\"$uid\",\"text\":\"over $pat $hash\"}"
		} >"$W/a.in"
		/usr/bin/python3 "$PY" -c "$PORT" -t 10 -p "$pat" -H "$hash" -k "$X_SEC" -r "$bob_pub" \
			<"$W/a.in" >"$W/a.out" 2>"$W/a.err" || { cat "$W/a.err" >&2; return 1; }
		head -n 1 "$W/a.out" | jq -e '.type == "hello" and .from == "bob" and .key != null'
		sed -n 2p "$W/a.out" | jq -e --arg u "$uid" '.type == "ack" and .uid == $u'
		grep -q "\"text\":\"over $pat $hash\"" "$W/bob.out"
	done
	# alice is pinned now; the same name with another key is refused
	chat_user mallory	# X_SEC and ED are mallory's now
	echo "{\"type\":\"hello\",\"v\":1,\"from\":\"alice\",\"to\":\"bob\",\"key\":\"$ED\"}" >"$W/m.in"
	/usr/bin/python3 "$PY" -c "$PORT" -t 10 -p XX -k "$X_SEC" -r "$bob_pub" \
		<"$W/m.in" >"$W/m.out" 2>"$W/m.err" || true
	grep -q '"code":"key_mismatch"' "$W/m.out"
	grep -q 'alice: the key of alice has changed' "$W/bob.err"
}

@test "the real chat-send calls dissononce: first contact, then again with the key it pinned" {
	chat_user alice
	alice_pub=$X_PUB
	chat_user bob
	for pat in XX IK; do
		echo "{\"type\":\"hello\",\"v\":1,\"from\":\"bob\",\"key\":\"$ED\"}" >"$W/l.in"
		listen py -k "$X_SEC" -r "$alice_pub" --answer
		CHAT_HOME=$W/home chat-send -u alice -t 5 --no-store --direct "127.0.0.1:$PORT" \
			--json bob <<<"{\"text\":\"to dissononce\",\"uid\":\"u-$pat\"}" >"$W/s.out" 2>"$W/s.err" ||
			{ cat "$W/s.err" "$W/l.err" >&2; return 1; }
		jq -e --arg u "u-$pat" '.uid == $u and .delivered == true' "$W/s.out"
		wait_listener
		grep -q '"type":"hello","v":1,"from":"alice","to":"bob"' "$W/l.out"
		grep -q "\"uid\":\"u-$pat\",\"text\":\"to dissononce\"" "$W/l.out"
	done
	grep -q "^bob $ED\$" "$W/home/keys/alice.pins"
}
