#!/usr/bin/env bats
# STUN: chat-dird's server answers clients that are not ours (coturn's
# turnutils_stunclient, Debian's RFC 3489 stun), chat-stun reads the
# answers of a server that is not ours (coturn's turnserver in STUN-only
# mode), and the server answers broken requests with 400 or 420, or not
# at all, and goes on serving.

bats_require_minimum_version 1.5.0

load helper

setup() {
	start_dird
	STUN_PORT=$(jq -r .stun_port "$DIRD_OUT")
	TURN_PID=
}

teardown() {
	exec 5>&- 2>/dev/null || true
	if [ -n "$TURN_PID" ]; then
		kill "$TURN_PID" 2>/dev/null || true
		wait "$TURN_PID" 2>/dev/null || true
	fi
	stop_dird
}

# tid: 12 random bytes in hex, a transaction id.
tid() {
	head -c 12 /dev/urandom | xxd -p
}

# udp_exchange HEX: sends the bytes as one datagram to the STUN port and
# prints the answer in hex, or nothing when none comes within 1 s.
udp_exchange() {
	exec 5<>"/dev/udp/127.0.0.1/$STUN_PORT"
	xxd -r -p <<<"$1" >&5
	timeout 1 dd bs=4096 count=1 status=none <&5 | xxd -p | tr -d '\n'
	exec 5>&-
}

# tcp_read: one whole STUN message from fd 5, in hex, within 2 s.
tcp_read() {
	local hdr len
	hdr=$(timeout 2 dd bs=20 count=1 iflag=fullblock status=none <&5 | xxd -p | tr -d '\n')
	[ ${#hdr} -eq 40 ] || return 1
	len=$((16#${hdr:4:4}))
	printf '%s' "$hdr"
	timeout 2 dd bs="$len" count=1 iflag=fullblock status=none <&5 | xxd -p | tr -d '\n'
}

# start_turnserver: coturn in STUN-only mode on a free loopback port, its
# state and log in the test's folder; sets TURN_PORT and TURN_PID.
start_turnserver() {
	command -v turnserver >/dev/null || skip "coturn's turnserver is not installed"
	
	for _ in 1 2 3 4 5; do
		TURN_PORT=$((20000 + RANDOM % 30000))
		turnserver -n --stun-only --no-cli --no-tls --no-dtls \
			-L 127.0.0.1 -p "$TURN_PORT" --db "$BATS_TEST_TMPDIR/turndb" \
			--log-file stdout --simple-log \
			--pidfile "$BATS_TEST_TMPDIR/turn.pid" \
			>"$BATS_TEST_TMPDIR/turn.log" 2>&1 &
		TURN_PID=$!
		for _ in $(seq 1 50); do
			if chat-stun -t 0.2 "127.0.0.1:$TURN_PORT" >/dev/null 2>&1; then
				return 0
			fi
			kill -0 "$TURN_PID" 2>/dev/null || break
		done
		kill "$TURN_PID" 2>/dev/null || true
		wait "$TURN_PID" 2>/dev/null || true
		TURN_PID=
	done
	cat "$BATS_TEST_TMPDIR/turn.log" >&2
	return 1
}

@test "the STUN port is on the listening line and differs from HTTP's" {
	[ "$STUN_PORT" -gt 0 ]
	[ "$STUN_PORT" != "$DIRD_PORT" ]
}

@test "coturn's turnutils_stunclient gets our answer" {
	command -v turnutils_stunclient >/dev/null ||
		skip "coturn's turnutils_stunclient is not installed"
	run timeout 10 turnutils_stunclient -p "$STUN_PORT" 127.0.0.1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"UDP reflexive addr: 127.0.0.1:"* ]]
}

@test "chat-stun over UDP and TCP: the address the server saw" {
	run chat-stun "127.0.0.1:$STUN_PORT"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.ip == "127.0.0.1" and .port == .local_port and .port > 0'
	run chat-stun --tcp "127.0.0.1:$STUN_PORT"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.ip == "127.0.0.1" and .port == .local_port and .port > 0'
	# From a port of our choosing, and found through CHAT_STUN.
	run env CHAT_STUN="127.0.0.1:$STUN_PORT" chat-stun -p 41234
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.port == 41234 and .local_port == 41234'
	run env CHAT_STUN="127.0.0.1:$STUN_PORT" chat-stun --tcp --port 41235
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.port == 41235'
}

@test "chat-stun asks coturn's STUN-only server, over UDP and TCP" {
	start_turnserver
	run chat-stun "127.0.0.1:$TURN_PORT"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.ip == "127.0.0.1" and .port == .local_port'
	run chat-stun --tcp "127.0.0.1:$TURN_PORT"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.ip == "127.0.0.1" and .port == .local_port'
}

@test "chat-stun: usage 64, no server 69, no STUN answer 76" {
	run -64 chat-stun a b
	run -64 chat-stun -t x "127.0.0.1:$STUN_PORT"
	run -64 chat-stun -p 0 "127.0.0.1:$STUN_PORT"
	run -64 chat-stun "127.0.0.1:99999"
	run -64 chat-stun "[::1"
	# Refused, over both.
	stop_dird
	run -69 chat-stun -t 2 "127.0.0.1:$STUN_PORT"
	[[ $output == "chat-stun: "* ]]
	run -69 chat-stun -t 2 --tcp "127.0.0.1:$STUN_PORT"
	# An HTTP server is not a STUN server: it waits for a line that never
	# comes, then hangs up without a STUN answer.
	start_dird --no-stun --idle-timeout 1
	jq -e 'has("stun_port") | not' "$DIRD_OUT"
	run -76 chat-stun -t 5 --tcp "127.0.0.1:$DIRD_PORT"
	[[ $output == *"closed before answering"* ]]
}

@test "chat-stun gives up at its timeout when no answer comes" {
	local start end
	# The port stays bound, but a stopped daemon answers nothing.
	kill -STOP "$DIRD_PID"
	start=$(date +%s%N)
	run -69 chat-stun -t 1.5 "127.0.0.1:$STUN_PORT"
	end=$(date +%s%N)
	kill -CONT "$DIRD_PID"
	[[ $output == *"no answer in 1500 ms"* ]]
	[ $(((end - start) / 1000000)) -ge 1400 ]
	[ $(((end - start) / 1000000)) -lt 5000 ]
}

@test "bad requests: 400, 420, or silence, and the server goes on" {
	local t r
	t=$(tid)
	# A Binding request, no attributes: success, our id echoed.
	r=$(udp_exchange "000100002112a442$t")
	[[ $r == 0101????2112a442"$t"* ]]
	[[ $r == *00200008* ]]	# XOR-MAPPED-ADDRESS, IPv4
	# An unknown comprehension-required attribute: 420 naming it.
	r=$(udp_exchange "000100082112a442${t}7777000400000000")
	[[ $r == 0111????2112a442"$t"* ]]
	[[ $r == *00000414* ]]
	[[ $r == *000a00027777* ]]
	# An unknown optional attribute is ignored.
	r=$(udp_exchange "000100082112a442${t}f777000400000000")
	[[ $r == 0101* ]]
	# An attribute longer than the message: 400.
	r=$(udp_exchange "000100082112a442${t}8022001041414141")
	[[ $r == 0111????2112a442"$t"* ]]
	[[ $r == *00000400* ]]
	# Another method: 400.
	r=$(udp_exchange "000300002112a442$t")
	[[ $r == 0113* && $r == *00000400* ]]
	# Garbage, a truncated header, a length past the datagram, an
	# indication, a response: no answer.
	[ -z "$(udp_exchange "474554202f20485454502f312e310d0a0d0a")" ]
	[ -z "$(udp_exchange "000100002112a442b7e7")" ]
	[ -z "$(udp_exchange "000100102112a442$t")" ]
	[ -z "$(udp_exchange "001100002112a442$t")" ]
	[ -z "$(udp_exchange "010100002112a442$t")" ]
	# And it still answers.
	run chat-stun -t 2 "127.0.0.1:$STUN_PORT"
	[ "$status" -eq 0 ]
	run chat-stun -t 2 --tcp "127.0.0.1:$STUN_PORT"
	[ "$status" -eq 0 ]
}

@test "RFC 3489: no cookie, MAPPED-ADDRESS back; Debian's stun client" {
	local t r
	t=$(tid)
	# Our 128-bit id back whole, MAPPED-ADDRESS 127.0.0.1 in the clear.
	r=$(udp_exchange "00010000cafe0001$t")
	[[ $r == 0101????cafe0001"$t"000100080001????7f000001* ]]
	# CHANGE-REQUEST to change nothing is honoured; to change IP and
	# port, which this server cannot, 420.
	r=$(udp_exchange "00010008cafe0001${t}0003000400000000")
	[[ $r == 0101* ]]
	r=$(udp_exchange "00010008cafe0001${t}0003000400000006")
	[[ $r == 0111* && $r == *000a00020003* ]]
	# No cookie over TCP is not STUN.
	exec 5<>"/dev/tcp/127.0.0.1/$STUN_PORT"
	xxd -r -p <<<"00010000cafe0001$t" >&5
	run timeout 2 dd bs=1 count=1 status=none <&5
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	exec 5>&-
	command -v stun >/dev/null || skip "Debian's stun-client is not installed"
	run timeout 10 stun "127.0.0.1:$STUN_PORT" 1 -v
	echo "$output"
	[[ $output == *"MappedAddress = 127.0.0.1:"* && $output == *"ok=1"* ]]
}

@test "TCP: back-to-back and split requests answered in order; garbage closes" {
	local t1 t2 r
	t1=$(tid)
	t2=$(tid)
	exec 5<>"/dev/tcp/127.0.0.1/$STUN_PORT"
	xxd -r -p <<<"000100002112a442${t1}000100082112a442${t2}7777000400000000" >&5
	r=$(tcp_read)
	[[ $r == 0101????2112a442"$t1"* ]]
	r=$(tcp_read)
	[[ $r == 0111????2112a442"$t2"* && $r == *000a00027777* ]]
	# One request in two writes.
	xxd -r -p <<<"000100002112" >&5
	sleep 0.2
	xxd -r -p <<<"a442$t1" >&5
	r=$(tcp_read)
	[[ $r == 0101????2112a442"$t1"* ]]
	# 300 requests in one go: 300 answers, none lost while the answers
	# wait for room.
	local one len all
	xxd -r -p <<<"000100002112a442$t1" >&5
	one=$(tcp_read)
	len=$((${#one} / 2))
	all=$(printf "000100002112a442$t1%.0s" $(seq 1 300))
	xxd -r -p <<<"$all" >&5
	all=$(timeout 5 dd bs=$((300 * len)) count=1 iflag=fullblock status=none <&5 | xxd -p | tr -d '\n')
	[ "${#all}" -eq $((600 * len)) ]
	[ "$(grep -o "0101....2112a442$t1" <<<"$all" | wc -l)" -eq 300 ]
	# Not STUN: the server closes the connection, and serves the next.
	xxd -r -p <<<"474554202f20485454502f312e310d0a0d0a" >&5
	run timeout 2 dd bs=1 count=1 status=none <&5
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	exec 5>&-
	run chat-stun -t 2 --tcp "127.0.0.1:$STUN_PORT"
	[ "$status" -eq 0 ]
}

@test "IPv6: the server on ::1 answers an IPv6 mapped address" {
	stop_dird
	start_dird -l "[::1]:0"
	STUN_PORT=$(jq -r .stun_port "$DIRD_OUT")
	run chat-stun "[::1]:$STUN_PORT"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.ip == "::1" and .port == .local_port'
	run chat-stun --tcp "[::1]:$STUN_PORT"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.ip == "::1" and .port == .local_port'
}
