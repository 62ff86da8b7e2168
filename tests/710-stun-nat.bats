#!/usr/bin/env bats
# STUN through real NATs: network namespaces, veth pairs and iptables build
# a public segment (203.0.113.0/24) with two chat-dirds on it, and a LAN
# (198.51.100.0/24) behind a router that masquerades. chat-stun in the LAN
# must see the router's address, its port kept by plain MASQUERADE (one
# mapping whatever the destination) and changed per destination by
# MASQUERADE --random-fully (a symmetric NAT); a host on the public
# segment sees itself. Skipped, saying why, when namespaces cannot be made.

bats_require_minimum_version 1.5.0

load helper

setup() {
	[ "$(id -u)" -eq 0 ] || skip "not root: cannot create network namespaces"
	command -v iptables >/dev/null || skip "iptables is not installed"
	N=st$$
	PUB=${N}pub RTR=${N}rtr LAN=${N}lan
	NSS=()
	PIDS=()
	ip netns add "$PUB" 2>/dev/null ||
		skip "cannot create network namespaces here"
	NSS+=("$PUB")
}

teardown() {
	local p ns
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	# Deleting a namespace deletes the veth ends inside it, and their peers.
	for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}

# inns NS CMD...: runs CMD in the namespace NS.
inns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# net_up MODE: the public segment, the router and the LAN; MODE is eim
# (MASQUERADE) or sym (MASQUERADE --random-fully).
net_up() {
	ip netns add "$RTR"
	NSS+=("$RTR")
	ip netns add "$LAN"
	NSS+=("$LAN")
	ip link add "${N}p" type veth peer name "${N}r"
	ip link set "${N}p" netns "$PUB"
	ip link set "${N}r" netns "$RTR"
	ip link add "${N}l" type veth peer name "${N}i"
	ip link set "${N}l" netns "$LAN"
	ip link set "${N}i" netns "$RTR"
	inns "$PUB" ip addr add 203.0.113.1/24 dev "${N}p"
	inns "$RTR" ip addr add 203.0.113.2/24 dev "${N}r"
	inns "$RTR" ip addr add 198.51.100.1/24 dev "${N}i"
	inns "$LAN" ip addr add 198.51.100.2/24 dev "${N}l"
	for ns in "$PUB" "$RTR" "$LAN"; do inns "$ns" ip link set lo up; done
	inns "$PUB" ip link set "${N}p" up
	inns "$RTR" ip link set "${N}r" up
	inns "$RTR" ip link set "${N}i" up
	inns "$LAN" ip link set "${N}l" up
	inns "$LAN" ip route add default via 198.51.100.1
	inns "$RTR" sysctl -qw net.ipv4.ip_forward=1
	case $1 in
	eim) inns "$RTR" iptables -t nat -A POSTROUTING -o "${N}r" -j MASQUERADE ;;
	sym) inns "$RTR" iptables -t nat -A POSTROUTING -o "${N}r" -j MASQUERADE --random-fully ;;
	esac
}

# dird_up NAME: a chat-dird on 203.0.113.1 in the public namespace; sets
# the variable NAME to its STUN port.
dird_up() {
	local out=$BATS_TEST_TMPDIR/$1.out
	# ip netns exec execs chat-dird: $! is the daemon's own PID.
	ip netns exec "$PUB" chat-dird -q -l 203.0.113.1:0 -d "$BATS_TEST_TMPDIR/$1.db" \
		>"$out" 2>"$BATS_TEST_TMPDIR/$1.log" &
	PIDS+=($!)
	for _ in $(seq 1 100); do
		if grep -q '"listening"' "$out"; then
			printf -v "$1" '%s' "$(jq -r .stun_port "$out")"
			return 0
		fi
		sleep 0.05
	done
	cat "$BATS_TEST_TMPDIR/$1.log" >&2
	return 1
}

# ask NS ARGS...: chat-stun ARGS in NS; sets IP, PORT, LOCAL.
ask() {
	local ns=$1 line
	shift
	line=$(inns "$ns" chat-stun -t 5 "$@")
	IP=$(jq -r .ip <<<"$line")
	PORT=$(jq -r .port <<<"$line")
	LOCAL=$(jq -r .local_port <<<"$line")
}

@test "a host on the public segment sees its own address and port" {
	net_up eim
	dird_up A
	for t in "" --tcp; do
		# shellcheck disable=SC2086 # $t is one flag or none
		ask "$RTR" $t "203.0.113.1:$A"
		[ "$IP" = 203.0.113.2 ]
		[ "$PORT" = "$LOCAL" ]
	done
}

@test "plain MASQUERADE: the router's address, one mapping for every server" {
	net_up eim
	dird_up A
	dird_up B
	for t in "" --tcp; do
		# shellcheck disable=SC2086
		ask "$LAN" $t -p 40001 "203.0.113.1:$A"
		[ "$IP" = 203.0.113.2 ]
		[ "$LOCAL" = 40001 ]
		local first=$PORT
		# shellcheck disable=SC2086
		ask "$LAN" $t -p 40001 "203.0.113.1:$B"
		[ "$IP" = 203.0.113.2 ]
		[ "$PORT" = "$first" ]
		[ "$PORT" = 40001 ]
	done
}

@test "MASQUERADE --random-fully: a new port for each server (symmetric)" {
	net_up sym
	dird_up A
	dird_up B
	for t in "" --tcp; do
		# shellcheck disable=SC2086
		ask "$LAN" $t -p 40002 "203.0.113.1:$A"
		[ "$IP" = 203.0.113.2 ]
		local first=$PORT
		# shellcheck disable=SC2086
		ask "$LAN" $t -p 40002 "203.0.113.1:$B"
		[ "$IP" = 203.0.113.2 ]
		[ "$PORT" != "$first" ]
	done
}
