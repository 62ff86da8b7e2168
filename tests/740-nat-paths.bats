#!/usr/bin/env bats
# Delivery across real NATs: network namespaces, veth pairs, a bridge and
# iptables build a public segment (203.0.113.0/24) with chat-dird on it,
# and two peers, each on a LAN of its own behind its own router, or on the
# public segment itself. A router is one of
#   eim  MASQUERADE: one mapping whatever the destination (the port kept);
#        unsolicited packets reach the router, which refuses them (RST)
#   prc  the same mapping, and a firewall that drops unsolicited packets
#        (port-restricted filtering, as home routers do)
#   sym  MASQUERADE --random-fully: a new port for each destination
#        (symmetric), unsolicited packets dropped
# For every pair, alice's chat-send must deliver each message once to
# bob's chat-listen, and say by which path: direct when bob is on the
# public segment; punched when neither NAT is symmetric (both connect to
# each other's public address at once, from the ports STUN saw); relayed
# through chat-dird when one is. Skipped, saying why, when namespaces
# cannot be made.
# shellcheck disable=SC2154 # bats sets $output etc.

bats_require_minimum_version 1.5.0

load helper
load netns

setup() {
	[ "$(id -u)" -eq 0 ] || skip "not root: cannot create network namespaces"
	command -v iptables >/dev/null || skip "iptables is not installed"
	N=np$$
	PUB=${N}pub
	NSS=()
	PIDS=()
	ip netns add "$PUB" 2>/dev/null ||
		skip "cannot create network namespaces here"
	NSS+=("$PUB")
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
}

teardown() {
	local p ns
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	# Deleting a namespace deletes the veth ends inside it, and their
	# peers; the bridge goes with the public one.
	for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}

# net_up MODE_A MODE_B: the public segment with chat-dird, alice's side a
# and bob's side b; sets CHAT_SERVER and CHAT_STUN for the peers.
net_up() {
	nat_segment
	side a 10 "$1"
	side b 20 "$2"
	local out=$BATS_TEST_TMPDIR/dird.out
	DIRD_LOG=$BATS_TEST_TMPDIR/dird.log
	# ip netns exec execs it: $! is the daemon's own PID (a function run
	# in the background would be a subshell, and the kill would miss).
	ip netns exec "$PUB" chat-dird -l 203.0.113.1:0 -d "$BATS_TEST_TMPDIR/dir.db" \
		>"$out" 2>"$DIRD_LOG" 3>&- &
	PIDS+=($!)
	for _ in $(seq 1 100); do
		grep -q '"listening"' "$out" && break
		sleep 0.05
	done
	CHAT_SERVER=http://203.0.113.1:$(jq -r .port "$out")
	CHAT_STUN=203.0.113.1:$(jq -r .stun_port "$out")
	export CHAT_SERVER CHAT_STUN
}

# wait_in FILE PATTERN [SECONDS]: waits for a line (5 s).
wait_in() {
	for _ in $(seq 1 $((${3:-5} * 20))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no $2 in $1:" >&2
	cat "$1" >&2
	return 1
}

# bob_listens: bob's chat-listen on side b, registered with its
# candidates, and callable (its event stream open) before alice sends.
bob_listens() {
	LISTEN_OUT=$BATS_TEST_TMPDIR/listen.out
	ip netns exec "$HOST_b" chat-listen -u bob >"$LISTEN_OUT" \
		2>"$BATS_TEST_TMPDIR/listen.err" 3>&- &
	PIDS+=($!)
	wait_in "$LISTEN_OUT" '"listening"'
	inns "$PUB" curl -s -o /dev/null -d '{"username":"probe","port":1}' "$CHAT_SERVER/register"
	for _ in $(seq 1 100); do
		code=$(inns "$PUB" curl -s -o /dev/null -w '%{http_code}' \
			-d '{"username":"probe","peer":"bob"}' "$CHAT_SERVER/relay")
		[ "$code" = 200 ] && return 0
		sleep 0.05
	done
	echo "bob never became callable: $code" >&2
	return 1
}

# delivers MODE_A MODE_B PATH: three messages from alice on side a reach
# bob on side b once each, by PATH (an extended regular expression).
delivers() {
	net_up "$1" "$2"
	bob_listens
	inns "$HOST_a" chat-register -u alice -p 1 >/dev/null
	# shellcheck disable=SC2016 # $0 is for the inner bash
	run --separate-stderr bash -c 'printf "%s\n" one two three |
		ip netns exec "$0" chat-send -u alice bob' "$HOST_a"
	echo "$output" >&2
	echo "$stderr" >&2
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	printf '%s\n' "$output" | jq -se --arg p "$3" 'all(.delivered and (.path | test("^(" + $p + ")$")))'
	wait_in "$LISTEN_OUT" '"text":"three"'
	[ "$(jq -r 'select(.type == "message") | .text' "$LISTEN_OUT" | tr '\n' ' ')" = "one two three " ]
}

# Behind routers that drop what they did not ask for, the SYNs cross and
# the hole opens; where both routers answer with RSTs, it opens only when
# the two SYNs meet inside one round trip, and else the relay carries.
@test "eim to eim: punched or relayed" { delivers eim eim 'punched|relayed'; }
@test "eim to prc: punched" { delivers eim prc punched; }
@test "eim to sym: relayed" { delivers eim sym relayed; }
@test "prc to eim: punched" { delivers prc eim punched; }
@test "prc to prc: punched" { delivers prc prc punched; }
@test "prc to sym: relayed" { delivers prc sym relayed; }
@test "sym to eim: relayed" { delivers sym eim relayed; }
@test "sym to prc: relayed" { delivers sym prc relayed; }
@test "sym to sym: relayed" { delivers sym sym relayed; }
@test "public to prc: punched" { delivers public prc punched; }
@test "prc to public: direct" { delivers prc public direct; }
@test "sym to public: direct" { delivers sym public direct; }
