# Network namespaces for the NAT suites and bench/nat: a public segment
# (a bridge in namespace $PUB, 203.0.113.1 on it) and peers on it or
# behind routers of their own. The caller sets N (a prefix unique to the
# run, at most 9 characters), PUB, and the arrays NSS (every namespace
# made, for the caller to delete) and PIDS.
# shellcheck shell=bash

# inns NS CMD...: runs CMD in the namespace NS.
inns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# nat_segment: the public segment's bridge, in $PUB (made already).
nat_segment() {
	inns "$PUB" ip link add "${N}br" type bridge
	inns "$PUB" ip link set lo up
	inns "$PUB" ip addr add 203.0.113.1/24 dev "${N}br"
	inns "$PUB" ip link set "${N}br" up
}

# side X OCTET MODE: peer X's host namespace ${N}hX, on the public segment
# at 203.0.113.OCTET (MODE public), or on 10.OCTET.0.0/24 behind a router
# ${N}rX at that public address. Sets HOST_X to the host namespace.
side() {
	local x=$1 o=$2 mode=$3 h=${N}h$1 r=${N}r$1
	ip netns add "$h"
	NSS+=("$h")
	printf -v "HOST_$x" '%s' "$h"
	inns "$h" ip link set lo up
	if [ "$mode" = public ]; then
		ip link add "${N}$x" type veth peer name "${N}${x}0"
		ip link set "${N}$x" netns "$h"
		ip link set "${N}${x}0" netns "$PUB"
		inns "$PUB" ip link set "${N}${x}0" master "${N}br" up
		inns "$h" ip addr add "203.0.113.$o/24" dev "${N}$x"
		inns "$h" ip link set "${N}$x" up
		return
	fi
	ip netns add "$r"
	NSS+=("$r")
	inns "$r" ip link set lo up
	ip link add "${N}$x" type veth peer name "${N}${x}0"
	ip link set "${N}$x" netns "$r"
	ip link set "${N}${x}0" netns "$PUB"
	inns "$PUB" ip link set "${N}${x}0" master "${N}br" up
	inns "$r" ip addr add "203.0.113.$o/24" dev "${N}$x"
	inns "$r" ip link set "${N}$x" up
	ip link add "${N}${x}l" type veth peer name "${N}${x}i"
	ip link set "${N}${x}l" netns "$h"
	ip link set "${N}${x}i" netns "$r"
	inns "$r" ip addr add "10.$o.0.1/24" dev "${N}${x}i"
	inns "$r" ip link set "${N}${x}i" up
	inns "$h" ip addr add "10.$o.0.2/24" dev "${N}${x}l"
	inns "$h" ip link set "${N}${x}l" up
	inns "$h" ip route add default via "10.$o.0.1"
	inns "$r" sysctl -qw net.ipv4.ip_forward=1
	case $mode in
	eim)
		inns "$r" iptables -t nat -A POSTROUTING -o "${N}$x" -j MASQUERADE
		;;
	prc | sym)
		if [ "$mode" = sym ]; then
			inns "$r" iptables -t nat -A POSTROUTING -o "${N}$x" -j MASQUERADE --random-fully
		else
			inns "$r" iptables -t nat -A POSTROUTING -o "${N}$x" -j MASQUERADE
		fi
		inns "$r" iptables -A INPUT -i "${N}$x" -m conntrack --ctstate NEW,INVALID -j DROP
		inns "$r" iptables -A FORWARD -i "${N}$x" -m conntrack --ctstate NEW,INVALID -j DROP
		;;
	esac
}

