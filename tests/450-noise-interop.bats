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
