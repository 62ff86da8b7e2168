#!/usr/bin/env bats
# Several chat-dird processes on one PostgreSQL, behind a real nginx:
# writers spread across them lose no acknowledged write and store none
# twice while a daemon is killed with SIGKILL, or while PostgreSQL stops
# and starts again; every daemon shows every message.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

setup_file() {
	PGDIR=$(mktemp -d /tmp/chat-pg.XXXXXX)
	export PGDIR
	"$BATS_TEST_DIRNAME/pg-cluster" start "$PGDIR"
}

teardown_file() {
	"$BATS_TEST_DIRNAME/pg-cluster" stop "$PGDIR" || true
	rm -rf "$PGDIR"
}

setup() {
	W=$BATS_TEST_TMPDIR/w
	mkdir "$W"
	: >"$W/pids"
	URL=$("$BATS_TEST_DIRNAME/pg-cluster" url "$PGDIR" "m$$_$BATS_TEST_NUMBER")
	# db_sql reads it.
	DIRD_DB=$URL
	export DIRD_DB
	NDAEMONS=0
}

teardown() {
	local p
	while read -r p; do
		kill "$p" 2>/dev/null || true
	done <"$W/pids"
	for p in "${DPID[@]}" "${NGINX_PID:-}"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	# A test that stopped PostgreSQL leaves it running for the next.
	"$BATS_TEST_DIRNAME/pg-cluster" start "$PGDIR" 2>/dev/null || true
}

# daemon_start I [PORT]: starts daemon I on PORT (else any free port) and
# sets DPID[I] and DPORT[I].
daemon_start() {
	local i=$1 port=${2:-0} out=$W/d$1.out
	: >"$out"
	chat-dird -q -l "127.0.0.1:$port" -d "$URL" --pool 4 --threads 4 --no-stun \
		>"$out" 2>>"$W/d$i.log" &
	DPID[i]=$!
	for _ in $(seq 1 200); do
		if grep -q '"listening"' "$out"; then
			DPORT[i]=$(jq -r .port "$out")
			return 0
		fi
		kill -0 "${DPID[i]}" 2>/dev/null || break
		sleep 0.05
	done
	cat "$W/d$i.log" >&2
	return 1
}

# nginx_start: nginx in front of the daemons, on a free loopback port;
# sets NGINX_PID and CHAT_SERVER.
nginx_start() {
	local conf=$W/nginx.conf port i
	mkdir -p "$W/nginx"
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		{
			echo "daemon off; master_process off; worker_processes 1;"
			echo "pid $W/nginx/pid; error_log $W/nginx/error.log warn;"
			echo "events { worker_connections 512; }"
			echo "http { access_log off;"
			for t in client_body proxy fastcgi uwsgi scgi; do
				echo "  ${t}_temp_path $W/nginx/$t;"
			done
			echo "  upstream dird {"
			for i in $(seq 1 "$NDAEMONS"); do
				echo "    server 127.0.0.1:${DPORT[i]} max_fails=1 fail_timeout=1s;"
			done
			echo "    keepalive 16; }"
			echo "  server { listen 127.0.0.1:$port;"
			echo "    location / { proxy_pass http://dird;"
			echo "      proxy_http_version 1.1; proxy_set_header Connection \"\";"
			echo "      proxy_connect_timeout 1s; proxy_buffering off;"
			echo "      proxy_next_upstream error timeout http_503 non_idempotent; } } }"
		} >"$conf"
		nginx -p "$W/nginx" -c "$conf" -e "$W/nginx/error.log" &
		NGINX_PID=$!
		for _ in $(seq 1 100); do
			if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then
				CHAT_SERVER=http://127.0.0.1:$port
				export CHAT_SERVER
				return 0
			fi
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$NGINX_PID" 2>/dev/null || true
		wait "$NGINX_PID" 2>/dev/null || true
	done
	cat "$W/nginx/error.log" >&2
	return 1
}

# setup_daemons N: N daemons and nginx before them; alice and bob.
setup_daemons() {
	NDAEMONS=$1
	for i in $(seq 1 "$NDAEMONS"); do
		daemon_start "$i"
	done
	nginx_start
	register alice
	register bob
}

# writer N COUNT: sends COUNT messages with uids wN-I through nginx, each
# until it is acknowledged (at most 200 tries, 50 ms apart), and writes
# "uid id" per acknowledged one to $W/acked.N; "fail" lines count
# answers other than 2xx.
writer() {
	local n=$1 count=$2 i code tries f=$W/resp.$1
	for i in $(seq 1 "$count"); do
		for tries in $(seq 1 200); do
			code=$(curl -s -o "$f" -w '%{http_code}' --max-time 5 \
				-H 'Content-Type: application/json' --data-binary \
				"{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"m $n $i\",\"uid\":\"w$n-$i\"}" \
				"$CHAT_SERVER/message/create/") || code=000
			case $code in
			200 | 201)
				echo "w$n-$i $(jq -r .message_id "$f")" >>"$W/acked.$n"
				break
				;;
			*) echo "fail $code" >>"$W/fails.$n" ;;
			esac
			sleep 0.05
		done
		[ "$tries" -lt 200 ] || return 1
	done
}

# check_everywhere: every acknowledged uid is stored once, with the id it
# was acknowledged with, and every daemon answers the same conversation
# with ids increasing.
check_everywhere() {
	local i
	sort "$W"/acked.* >"$W/acked"
	[ -s "$W/acked" ]
	[ -z "$(cut -d' ' -f1 "$W/acked" | uniq -d)" ]
	for i in $(seq 1 "$NDAEMONS"); do
		curl -sf "http://127.0.0.1:${DPORT[i]}/message/get/?peer1=alice&peer2=bob" |
			jq -r '.messages[] | "\(.uid) \(.id)"' >"$W/seen.$i"
		[ -z "$(cut -d' ' -f1 "$W/seen.$i" | sort | uniq -d)" ] ||
			{ echo "daemon $i: a uid twice" >&2; return 1; }
		cut -d' ' -f2 "$W/seen.$i" | sort -n -c ||
			{ echo "daemon $i: ids out of order" >&2; return 1; }
		sort "$W/seen.$i" >"$W/seen.sorted.$i"
		missing=$(comm -23 "$W/acked" "$W/seen.sorted.$i")
		[ -z "$missing" ] || { echo "daemon $i lost: $missing" >&2; return 1; }
		[ "$i" -eq 1 ] || cmp -s "$W/seen.1" "$W/seen.$i" ||
			{ echo "daemons 1 and $i differ" >&2; return 1; }
	done
	[ "$(db_sql 'SELECT count(*) - count(DISTINCT uid) FROM messages')" = 0 ]
}

# kill_rounds ROUNDS: kills a daemon with SIGKILL every half second, in
# turn, and starts it again on its port.
kill_rounds() {
	local r i
	for r in $(seq 1 "$1"); do
		sleep 0.5
		i=$(((r - 1) % NDAEMONS + 1))
		kill -9 "${DPID[i]}"
		wait "${DPID[i]}" 2>/dev/null || true
		sleep 0.2
		daemon_start "$i" "${DPORT[i]}"
	done
}

multi_daemon_kills() {
	local writers=$1 per=$2 w
	setup_daemons "$3"
	for w in $(seq 1 "$writers"); do
		writer "$w" "$per" &
		echo $! >>"$W/pids"
	done
	kill_rounds 5
	while read -r p; do wait "$p"; done <"$W/pids"
	: >"$W/pids"
	[ "$(cat "$W"/acked.* | wc -l)" -eq $((writers * per)) ]
	check_everywhere
}

@test "two daemons behind nginx, five kill -9 rounds: nothing acknowledged lost, nothing twice" {
	multi_daemon_kills 4 60 2
}

@test "four daemons behind nginx, five kill -9 rounds: nothing acknowledged lost, nothing twice" {
	multi_daemon_kills 6 40 4
}

@test "a name, a friendship and a uid are one across daemons" {
	setup_daemons 2
	local a=http://127.0.0.1:${DPORT[1]} b=http://127.0.0.1:${DPORT[2]}
	# The same name in two spellings at once through both daemons.
	for i in $(seq 1 10); do
		: >"$W/burst"
		curl -s -o /dev/null -X POST --data-binary \
			'{"username":"Carol","ip":"10.0.0.1","port":1}' "$a/register" &
		echo $! >>"$W/burst"
		curl -s -o /dev/null -X POST --data-binary \
			'{"username":"CAROL","ip":"10.0.0.2","port":2}' "$b/register" &
		echo $! >>"$W/burst"
		curl -s -o /dev/null -X POST --data-binary \
			'{"user1":"alice","user2":"bob"}' "$a/friend/start/" &
		echo $! >>"$W/burst"
		curl -s -o /dev/null -X POST --data-binary \
			'{"user1":"bob","user2":"alice"}' "$b/friend/start/" &
		echo $! >>"$W/burst"
		while read -r p; do wait "$p"; done <"$W/burst"
	done
	[ "$(db_sql "SELECT count(*) FROM peers WHERE lower(username) = 'carol'")" = 1 ]
	[ "$(db_sql 'SELECT count(*) FROM friendships')" = 2 ]
	CHAT_SERVER=$b api GET '/friend/get/?username=alice'
	expect 200 '.friends | map(.username) == ["bob"]'
	# A uid sent to one daemon and retried on the other: one message.
	CHAT_SERVER=$a api POST /message/create/ '{"sender":"alice","receiver":"bob","content":"x","uid":"once"}'
	expect 201
	id=$(printf '%s' "$body" | jq .message_id)
	CHAT_SERVER=$b api POST /message/create/ '{"sender":"alice","receiver":"bob","content":"x","uid":"once"}'
	expect 200 ".message_id == $id"
	# Logout through one daemon shows through the other.
	CHAT_SERVER=$b api GET '/peerinfo?username=alice'
	expect 200 '.online == true'
	CHAT_SERVER=$a api POST /logout '{"username":"alice"}'
	expect 200
	CHAT_SERVER=$b api GET '/peerinfo?username=alice'
	expect 200 '.online == false'
}

# wait_for FILE PATTERN SECONDS: until FILE has a line matching the grep
# -E PATTERN, at most SECONDS.
wait_for() {
	for _ in $(seq 1 $(($3 * 20))); do
		grep -Eq "$2" "$1" && return 0
		sleep 0.05
	done
	echo "no /$2/ in $1 after $3 s:" >&2
	cat "$1" >&2
	return 1
}

@test "chat-history -f through one daemon is woken by a write through another (LISTEN/NOTIFY, not polling)" {
	setup_daemons 2
	# polling so slow that only a push can wake it
	CHAT_POLL_SECONDS=100000 chat-history -s "http://127.0.0.1:${DPORT[1]}" \
		-u bob alice -f >"$W/follow" 2>"$W/follow.err" &
	echo $! >>"$W/pids"
	curl -sN "http://127.0.0.1:${DPORT[1]}/events?username=bob" >"$W/ev1" &
	echo $! >>"$W/pids"
	curl -sN "$CHAT_SERVER/events?username=alice" >"$W/evn" &
	echo $! >>"$W/pids"
	wait_for "$W/ev1" '^: chat-dird events' 2
	wait_for "$W/evn" '^: chat-dird events' 2
	sleep 0.5
	CHAT_SERVER=http://127.0.0.1:${DPORT[2]} api POST /message/create/ \
		'{"sender":"alice","receiver":"bob","content":"from b","uid":"via-b"}'
	expect 201
	id=$(jq -r .message_id <<<"$body")
	wait_for "$W/ev1" "^id: $id\$" 1
	# and through nginx, which passes each event on at once
	wait_for "$W/evn" "^id: $id\$" 1
	wait_for "$W/follow" '"via-b"' 1
	jq -e 'select(.uid == "via-b") | .text == "from b"' "$W/follow"
}

@test "a relay call asked through one daemon reaches the peer's stream on another, once, and its relay splices" {
	setup_daemons 2
	curl -sN "http://127.0.0.1:${DPORT[1]}/events?username=bob" >"$W/ev1" 3>&- &
	echo $! >>"$W/pids"
	wait_for "$W/ev1" '^: chat-dird events' 2
	CHAT_SERVER=http://127.0.0.1:${DPORT[2]} api POST /relay '{"username":"alice","peer":"bob"}'
	expect 200 ".relay == \"127.0.0.1:$(jq -r .relay_port "$W/d2.out")\""
	token=$(jq -r .token <<<"$body")
	wait_for "$W/ev1" '"type":"relay"' 2
	grep '"type":"relay"' "$W/ev1" | cut -c7- | jq -e --arg t "$token" '.from == "alice" and .token == $t'
	# A message after it comes after it: the call came once.
	CHAT_SERVER=http://127.0.0.1:${DPORT[2]} api POST /message/create/ \
		'{"sender":"alice","receiver":"bob","content":"after","uid":"after-call"}'
	expect 201
	wait_for "$W/ev1" "^id: $(jq -r .message_id <<<"$body")\$" 2
	[ "$(grep -c '"type":"relay"' "$W/ev1")" -eq 1 ]
	run python3 - "$(jq -r .relay_port "$W/d2.out")" "$token" <<'EOF2'
import socket, sys
port, tok = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
a = socket.create_connection(("127.0.0.1", port), timeout=5)
b = socket.create_connection(("127.0.0.1", port), timeout=5)
a.sendall(b"CRL1" + tok)
b.sendall(b"CRL1" + tok)
print(a.recv(1).hex(), b.recv(1).hex())
a.sendall(b"across")
print(b.recv(6).decode())
EOF2
	[ "$status" -eq 0 ]
	[ "$output" = $'00 00\nacross' ]
	# Nobody holds a stream of carol's on any daemon: 409 at once, so a
	# sender stores without waiting for a peer that cannot come.
	register carol
	CHAT_SERVER=http://127.0.0.1:${DPORT[2]} api POST /relay '{"username":"alice","peer":"carol"}'
	expect 409 '.code == "peer_unreachable"'
	# nor of bob's, once his stream has closed
	kill "$(tail -n 1 "$W/pids")"
	for _ in $(seq 1 50); do
		CHAT_SERVER=http://127.0.0.1:${DPORT[2]} api POST /relay '{"username":"alice","peer":"bob"}'
		[ "$status_code" = 409 ] && break
		sleep 0.1
	done
	expect 409 '.code == "peer_unreachable"'
}

@test "PostgreSQL stopped and started under a follower: it resyncs and misses nothing, no daemon restarted" {
	setup_daemons 2
	CHAT_POLL_SECONDS=100000 chat-history -s "http://127.0.0.1:${DPORT[1]}" \
		-u bob -f >"$W/follow" 2>"$W/follow.err" &
	echo $! >>"$W/pids"
	curl -sN "http://127.0.0.1:${DPORT[1]}/events?username=bob" >"$W/ev1" &
	echo $! >>"$W/pids"
	wait_for "$W/ev1" '^: chat-dird events' 2
	sleep 0.5
	CHAT_SERVER=http://127.0.0.1:${DPORT[2]} api POST /message/create/ \
		'{"sender":"alice","receiver":"bob","content":"before","uid":"before"}'
	expect 201
	wait_for "$W/follow" '"before"' 1
	"$BATS_TEST_DIRNAME/pg-cluster" stop "$PGDIR"
	sleep 2
	"$BATS_TEST_DIRNAME/pg-cluster" start "$PGDIR"
	# written as soon as daemon 2 can: maybe before daemon 1 listens again
	for _ in $(seq 1 100); do
		CHAT_SERVER=http://127.0.0.1:${DPORT[2]} api POST /message/create/ \
			'{"sender":"alice","receiver":"bob","content":"after","uid":"after"}'
		[ "$status_code" = 201 ] && break
		sleep 0.1
	done
	expect 201
	wait_for "$W/ev1" '^data: \{"type":"resync"\}$' 5
	wait_for "$W/follow" '"after"' 5
	CHAT_SERVER=http://127.0.0.1:${DPORT[2]} api POST /message/create/ \
		'{"sender":"alice","receiver":"bob","content":"later","uid":"later"}'
	expect 201
	wait_for "$W/follow" '"later"' 1
	[ "$(jq -r .uid "$W/follow" | tr '\n' ' ')" = "before after later " ]
	for i in 1 2; do kill -0 "${DPID[i]}"; done
}

@test "PostgreSQL stopped and started under load: 503 while down, nothing lost, back by itself" {
	setup_daemons 2
	for w in 1 2 3; do
		writer "$w" 80 &
		echo $! >>"$W/pids"
	done
	sleep 0.5
	"$BATS_TEST_DIRNAME/pg-cluster" stop "$PGDIR"
	for i in 1 2; do
		CHAT_SERVER=http://127.0.0.1:${DPORT[i]} api GET /healthz
		expect 503
		CHAT_SERVER=http://127.0.0.1:${DPORT[i]} api POST /message/create/ \
			'{"sender":"alice","receiver":"bob","content":"down","uid":"down"}'
		expect 503 '.code == "store_failed"'
	done
	sleep 1
	"$BATS_TEST_DIRNAME/pg-cluster" start "$PGDIR"
	for i in 1 2; do
		for _ in $(seq 1 100); do
			CHAT_SERVER=http://127.0.0.1:${DPORT[i]} api GET /healthz
			[ "$status_code" = 200 ] && break
			sleep 0.1
		done
		expect 200
		kill -0 "${DPID[i]}"
	done
	while read -r p; do wait "$p"; done <"$W/pids"
	: >"$W/pids"
	[ "$(cat "$W"/acked.* | wc -l)" -eq 240 ]
	# The writers met errors while it was down.
	[ -n "$(cat "$W"/fails.* 2>/dev/null)" ]
	check_everywhere
}

@test "four daemons starting at once on an empty database: one schema; --pool 1 serves all on one connection each" {
	local i
	for i in 1 2 3 4; do
		chat-dird -q -l 127.0.0.1:0 -d "$URL" --pool 1 --threads 8 --no-stun \
			>"$W/d$i.out" 2>"$W/d$i.log" &
		DPID[i]=$!
	done
	for i in 1 2 3 4; do
		for _ in $(seq 1 200); do
			grep -q '"listening"' "$W/d$i.out" && break
			kill -0 "${DPID[i]}" 2>/dev/null || break
			sleep 0.05
		done
		grep -q '"listening"' "$W/d$i.out" || { cat "$W/d$i.log" >&2; return 1; }
		DPORT[i]=$(jq -r .port "$W/d$i.out")
	done
	[ "$(db_sql 'SELECT count(*) FROM schema_version')" = 1 ]
	NDAEMONS=4
	nginx_start
	register alice
	register bob
	for w in 1 2 3 4 5 6; do
		writer "$w" 20 &
		echo $! >>"$W/pids"
	done
	# Readers besides, so that each daemon has more to do at once than
	# one connection carries.
	for r in 1 2 3 4 5 6; do
		for _ in $(seq 1 40); do
			curl -sf -o /dev/null "$CHAT_SERVER/message/get/?peer1=alice&peer2=bob&limit=50" ||
				echo "read failed" >>"$W/readfails"
		done &
		echo $! >>"$W/pids"
	done
	while read -r p; do wait "$p"; done <"$W/pids"
	: >"$W/pids"
	[ ! -e "$W/readfails" ]
	n=$(db_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chat-dird'")
	echo "# connections of 4 daemons with --pool 1: $n" >&3
	[ "$n" -eq 4 ]
	check_everywhere
}
