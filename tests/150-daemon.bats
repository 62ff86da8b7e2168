#!/usr/bin/env bats
# chat-dird as a program: flags, the listening line, the JSON log, -q,
# signals, exit statuses, the database file (creation, migration from
# schema v1, files that are not ours), --sync full, IPv6.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

APP_ID=1128808788 # 0x43484154, "CHAT"

setup() { DIRD_DB=$BATS_TEST_TMPDIR/dir.db; }
teardown() {
	stop_dird
	check_errors
	no_5xx_logged
}

# fails_with STATUS ARGS...: chat-dird ARGS exits STATUS without ever
# printing a listening line (bounded: a daemon that starts is killed).
fails_with() {
	local want=$1
	shift
	run timeout 5 chat-dird "$@"
	if [ "$status" -ne "$want" ]; then
		echo "chat-dird $*: exit $status, want $want: $output" >&2
		return 1
	fi
	if [[ "$output" == *'"listening"'* ]]; then
		echo "chat-dird $*: printed a listening line: $output" >&2
		return 1
	fi
}

# stderr_is_json_log FILE: every line of FILE is a JSON log object.
stderr_is_json_log() {
	[ -s "$1" ] || { echo "$1 is empty" >&2; return 1; }
	jq -e -s 'all(.[]; type == "object" and (.ts | type == "string") and (.level | type == "string") and (.event | type == "string"))' "$1" >/dev/null ||
		{ echo "not a JSON log:" >&2; cat "$1" >&2; return 1; }
}

# has_ipv6_loopback: the machine has ::1.
has_ipv6_loopback() {
	grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null
}

# make_v1_db FILE: a database of schema version 1 (the seed design's
# tables, as lib/store.c's first migration makes them) with some data.
make_v1_db() {
	sqlite3 "$1" <<-'EOF'
		CREATE TABLE peers (
		  id INTEGER PRIMARY KEY,
		  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
		  ip TEXT NOT NULL,
		  port INTEGER NOT NULL);
		CREATE TABLE friendships (
		  owner INTEGER NOT NULL REFERENCES peers(id),
		  friend INTEGER NOT NULL REFERENCES peers(id),
		  PRIMARY KEY (owner, friend)) WITHOUT ROWID;
		CREATE TABLE messages (
		  id INTEGER PRIMARY KEY,
		  sender INTEGER NOT NULL REFERENCES peers(id),
		  receiver INTEGER NOT NULL REFERENCES peers(id),
		  content TEXT NOT NULL);
		INSERT INTO peers VALUES (1, 'alice', '10.0.0.1', 5001);
		INSERT INTO peers VALUES (2, 'Bob', '10.0.0.2', 5002);
		INSERT INTO peers VALUES (3, 'carol', '10.0.0.3', 5003);
		INSERT INTO friendships VALUES (1, 2);
		INSERT INTO messages VALUES (1, 1, 2, 'hi bob');
		INSERT INTO messages VALUES (2, 2, 1, 'hi alice');
		INSERT INTO messages VALUES (3, 3, 2, 'from carol');
		INSERT INTO messages VALUES (4, 1, 2, 'how are you?');
		PRAGMA user_version = 1;
	EOF
}

@test "--help prints the usage on stdout and exits 0" {
	run chat-dird --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: chat-dird"* ]]
	for f in --listen --db --sync --max-body --max-content --max-conns \
		--idle-timeout --presence --threads --quiet --version; do
		[[ "$output" == *"$f"* ]] || { echo "help lacks $f" >&2; return 1; }
	done
	run chat-dird -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: chat-dird"* ]]
}

@test "--version prints the name and version and exits 0" {
	run chat-dird --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^chat-dird\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "bad command lines exit 64 and touch no database" {
	db=$BATS_TEST_TMPDIR/never.db
	fails_with 64 -d "$db" --bogus
	fails_with 64 -d "$db" -l 127.0.0.1:0 extra-argument
	fails_with 64 -d "$db" -l 127.0.0.1:0 --sync sometimes
	fails_with 64 -d "$db" -l 127.0.0.1:0 --max-body abc
	fails_with 64 -d "$db" -l 127.0.0.1:0 --max-body -1
	fails_with 64 -d "$db" -l 127.0.0.1:0 --max-content 10k
	fails_with 64 -d "$db" -l 127.0.0.1:0 --presence abc
	fails_with 64 -d "$db" -l 127.0.0.1:0 --threads ''
	fails_with 64 -d "$db" -l 127.0.0.1:0 --idle-timeout -5
	fails_with 64 -d "$db" -l 127.0.0.1:0 --max-conns x
	fails_with 64 -d "$db" -l 127.0.0.1:abc
	fails_with 64 -d "$db" -l 127.0.0.1:70000
	fails_with 64 -d "$db" -l nonsense
	fails_with 64 -d "$db" -l
	[[ "$output" == *chat-dird* ]]
	[ ! -e "$db" ]
}

@test "the listening line: one JSON line on stdout, and nothing more" {
	start_dird
	[ "$(wc -l <"$DIRD_OUT")" -eq 1 ]
	jq -e --argjson p "$DIRD_PORT" 'del(.stun_port, .relay_port) == {"type": "listening", "addr": "127.0.0.1", "port": $p} and $p > 0 and .stun_port > 0 and .relay_port > 0' "$DIRD_OUT"
	get /healthz
	expect 200
	register alice
	get /nope
	expect 404
	post /register '{'
	expect 400
	[ "$(wc -l <"$DIRD_OUT")" -eq 1 ]
}

@test "stderr is a JSON log: start, one line per request, stop" {
	start_dird
	get '/peers?limit=5'
	expect 200
	get /nope
	expect 404
	signal_dird TERM
	[ "$dird_rc" -eq 0 ]
	stderr_is_json_log "$DIRD_LOG"
	jq -e -s 'map(select(.event == "start")) | length == 1' "$DIRD_LOG"
	jq -e -s 'map(select(.event == "stop")) | length == 1' "$DIRD_LOG"
	jq -e -s '.[-1].event == "stop"' "$DIRD_LOG"
	jq -e -s "all(.[]; .ts | test(\"$TS_RE\"))" "$DIRD_LOG"
	jq -e -s 'any(.[]; .event == "request" and .method == "GET" and (.path | startswith("/peers")) and .status == 200 and (.ms | type == "number") and .remote == "127.0.0.1")' "$DIRD_LOG"
	jq -e -s 'any(.[]; .event == "request" and .path == "/nope" and .status == 404)' "$DIRD_LOG"
}

@test "-q leaves out the request lines, not the others" {
	start_dird -q
	get /healthz
	expect 200
	register alice
	signal_dird TERM
	[ "$dird_rc" -eq 0 ]
	stderr_is_json_log "$DIRD_LOG"
	jq -e -s 'any(.[]; .event == "start") and any(.[]; .event == "stop")' "$DIRD_LOG"
	jq -e -s 'all(.[]; .event != "request")' "$DIRD_LOG"
}

@test "SIGTERM: exit 0, the database closed cleanly and kept" {
	start_dird
	register alice 5001 10.0.0.1
	send alice alice note
	signal_dird TERM
	[ "$dird_rc" -eq 0 ]
	# A clean close checkpoints the WAL into the file and removes it.
	[ ! -s "$DIRD_DB-wal" ]
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
	start_dird
	get '/peerinfo?username=alice'
	expect 200 '.ip == "10.0.0.1" and .port == 5001'
	get '/message/inbox/?username=alice'
	expect 200 '[.messages[].message] == ["note"]'
}

@test "SIGINT: exit 0" {
	start_dird
	register alice
	signal_dird INT
	[ "$dird_rc" -eq 0 ]
	jq -e -s '.[-1].event == "stop"' "$DIRD_LOG"
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
}

@test "SIGTERM lets a request under way finish" {
	start_dird
	register alice
	b='{"sender":"alice","receiver":"alice","content":"in flight","uid":"late-1"}'
	exec 7<>"/dev/tcp/127.0.0.1/$DIRD_PORT"
	printf 'POST /message/create/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		"${#b}" "${b:0:20}" >&7
	sleep 0.3
	kill -TERM "$DIRD_PID"
	sleep 0.5
	printf '%s' "${b:20}" >&7
	answer=$(timeout 5 cat <&7 | tr -d '\r')
	exec 7<&-
	[[ "$answer" == "HTTP/1.1 201"* ]] || { echo "answer: $answer" >&2; return 1; }
	signal_dird TERM
	[ "$dird_rc" -eq 0 ]
	start_dird
	get '/message/inbox/?username=alice'
	expect 200 '[.messages[].uid] == ["late-1"]'
}

@test "the database is marked as ours: application_id, user_version, WAL" {
	start_dird
	register alice
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA application_id')" = "$APP_ID" ]
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA user_version')" -ge 2 ]
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA journal_mode')" = wal ]
}

@test "a database of schema v1 (the seed's tables) is migrated on start" {
	make_v1_db "$DIRD_DB"
	start_dird
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA user_version')" -ge 2 ]
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA application_id')" = "$APP_ID" ]
	get /peers
	expect 200 '[.peers[].username] == ["alice", "Bob", "carol"]'
	expect 200 "all(.peers[]; .online == false and (.last_seen | test(\"$TS_RE\")))"
	get '/peerinfo?username=bob'
	expect 200 '.username == "Bob" and .ip == "10.0.0.2" and .port == 5002'
	# Friendship is mutual now.
	get '/friend/get/?username=bob'
	expect 200 '[.friends[].username] == ["alice"]'
	get '/friend/get/?username=alice'
	expect 200 '[.friends[].username] == ["Bob"]'
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200 '[.messages[] | {id, from, to, message}] == [
		{"id":1,"from":"alice","to":"Bob","message":"hi bob"},
		{"id":2,"from":"Bob","to":"alice","message":"hi alice"},
		{"id":4,"from":"alice","to":"Bob","message":"how are you?"}]'
	expect 200 "all(.messages[]; (.uid | test(\"^[0-9A-Za-z._:-]{1,64}$\")) and (.ts | test(\"$TS_RE\")))"
	expect 200 '[.messages[].uid] | unique | length == 3'
	get '/message/inbox/?username=Bob&after=2'
	expect 200 '[.messages[].message] == ["from carol", "how are you?"]'
	# The old peers work as before, and new ids follow the old ones.
	register carol
	expect 200 '.created == false'
	send carol alice new
	[ "$msg_id" -gt 4 ]
	post /friend/start/ '{"user1":"bob","user2":"alice"}'
	expect 200 '.created == false'
}

@test "a migrated database starts again as it is" {
	make_v1_db "$DIRD_DB"
	start_dird
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200
	before=$body
	signal_dird TERM
	[ "$dird_rc" -eq 0 ]
	start_dird
	get '/message/get/?peer1=alice&peer2=bob'
	expect 200
	[ "$body" = "$before" ]
}

@test "a SQLite file of another program: exit 65, the file untouched" {
	sqlite3 "$DIRD_DB" 'CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes(text) VALUES ("keep me");'
	sum=$(sha256sum <"$DIRD_DB")
	fails_with 65 -l 127.0.0.1:0 -d "$DIRD_DB"
	[ "$(sha256sum <"$DIRD_DB")" = "$sum" ]
	[ ! -s "$DIRD_DB-wal" ]
}

@test "another program's application_id, even with no tables: exit 65, untouched" {
	sqlite3 "$DIRD_DB" 'PRAGMA application_id = 305419896; PRAGMA user_version = 2;'
	sum=$(sha256sum <"$DIRD_DB")
	fails_with 65 -l 127.0.0.1:0 -d "$DIRD_DB"
	[ "$(sha256sum <"$DIRD_DB")" = "$sum" ]
}

@test "a file that is not a database: exit 65, untouched" {
	printf 'these are my notes, not a database\n%.0s' $(seq 1 200) >"$DIRD_DB"
	sum=$(sha256sum <"$DIRD_DB")
	fails_with 65 -l 127.0.0.1:0 -d "$DIRD_DB"
	[ "$(sha256sum <"$DIRD_DB")" = "$sum" ]
	[ ! -e "$DIRD_DB-wal" ]
}

@test "a corrupt database: exit 65, untouched" {
	start_dird
	register peer1
	register peer2
	jq -nc '{messages: [range(200) | {sender: "peer1", receiver: "peer2", content: "message number \(.), padded to take some room in the file"}]}' \
		>"$BATS_TEST_TMPDIR/batch.json"
	post_file /message/create/ "$BATS_TEST_TMPDIR/batch.json"
	expect 201
	signal_dird TERM
	[ "$(stat -c %s "$DIRD_DB")" -gt 8192 ]
	# Garbage over the second page and beyond.
	pagesize=$(sqlite3 "$DIRD_DB" 'PRAGMA page_size')
	head -c 3000 /dev/urandom | dd of="$DIRD_DB" bs=1 seek="$pagesize" conv=notrunc status=none
	sum=$(sha256sum <"$DIRD_DB")
	fails_with 65 -l 127.0.0.1:0 -d "$DIRD_DB"
	[ "$(sha256sum <"$DIRD_DB")" = "$sum" ]
}

@test "a database with a damaged header: exit 65, untouched" {
	start_dird
	register alice
	signal_dird TERM
	printf 'SQLite format 2\0' | dd of="$DIRD_DB" bs=1 conv=notrunc status=none
	sum=$(sha256sum <"$DIRD_DB")
	fails_with 65 -l 127.0.0.1:0 -d "$DIRD_DB"
	[ "$(sha256sum <"$DIRD_DB")" = "$sum" ]
}

@test "a database from a newer version: exit 65, untouched" {
	start_dird
	register alice
	signal_dird TERM
	sqlite3 "$DIRD_DB" 'PRAGMA user_version = 99'
	sum=$(sha256sum <"$DIRD_DB")
	fails_with 65 -l 127.0.0.1:0 -d "$DIRD_DB"
	[ "$(sha256sum <"$DIRD_DB")" = "$sum" ]
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA user_version')" = 99 ]
}

@test "a fatal error is a JSON log line on stderr" {
	printf 'not a database\n' >"$DIRD_DB"
	chat-dird -l 127.0.0.1:0 -d "$DIRD_DB" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
	[ "${rc:-0}" -eq 65 ]
	[ ! -s "$BATS_TEST_TMPDIR/out" ]
	stderr_is_json_log "$BATS_TEST_TMPDIR/err"
	jq -e -s 'any(.[]; .level == "error")' "$BATS_TEST_TMPDIR/err"
}

@test "a database that cannot be opened or created: exit 74" {
	fails_with 74 -l 127.0.0.1:0 -d "$BATS_TEST_TMPDIR/no/such/dir/x.db"
	fails_with 74 -l 127.0.0.1:0 -d "$BATS_TEST_TMPDIR"
}

@test "an address that cannot be listened on: exit 69, the database kept" {
	start_dird
	register alice
	fails_with 69 -l "127.0.0.1:$DIRD_PORT" -d "$BATS_TEST_TMPDIR/other.db"
	fails_with 69 -l 192.0.2.1:0 -d "$BATS_TEST_TMPDIR/other.db"
	get '/peerinfo?username=alice'
	expect 200
}

@test "-d, else CHAT_DB, else chat-dird.db in the current folder" {
	mkdir "$BATS_TEST_TMPDIR/cwd" "$BATS_TEST_TMPDIR/env" "$BATS_TEST_TMPDIR/flag"
	cd "$BATS_TEST_TMPDIR/cwd"
	unset CHAT_DB
	launch_dird -l 127.0.0.1:0
	register alice
	stop_dird
	[ -s chat-dird.db ]
	[ "$(sqlite3 chat-dird.db 'PRAGMA application_id')" = "$APP_ID" ]
	CHAT_DB=$BATS_TEST_TMPDIR/env/e.db launch_dird -l 127.0.0.1:0
	register bob
	stop_dird
	[ -s ../env/e.db ]
	[ ! -e e.db ]
	CHAT_DB=$BATS_TEST_TMPDIR/env/e.db launch_dird -l 127.0.0.1:0 -d ../flag/f.db
	get '/peerinfo?username=bob'
	expect_error 404 peer_not_found
	stop_dird
	[ -s ../flag/f.db ]
}

@test "--sync full: answered writes are there after kill -9" {
	start_dird --sync full
	register alice
	for i in 1 2 3 4 5; do send alice alice "n$i" "full-$i"; done
	kill -9 "$DIRD_PID"
	wait "$DIRD_PID" || true
	DIRD_PID=
	start_dird --sync full
	get '/message/inbox/?username=alice'
	expect 200 '[.messages[].uid] == ["full-1","full-2","full-3","full-4","full-5"]'
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
}

@test "--idle-timeout closes an idle connection" {
	start_dird --idle-timeout 1
	exec 7<>"/dev/tcp/127.0.0.1/$DIRD_PORT"
	SECONDS=0
	run timeout 5 cat <&7
	exec 7<&-
	[ "$status" -eq 0 ] # 124 would mean the daemon kept it open
	[ "$SECONDS" -le 3 ]
	get /healthz
	expect 200
}

@test "--max-conns bounds the connections; --threads 1 serves" {
	start_dird --max-conns 2 --threads 1
	exec 7<>"/dev/tcp/127.0.0.1/$DIRD_PORT"
	exec 8<>"/dev/tcp/127.0.0.1/$DIRD_PORT"
	sleep 0.2
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$CHAT_SERVER/healthz" || true)
	exec 7<&- 8<&-
	[ "$code" != 200 ]
	for _ in $(seq 1 40); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$CHAT_SERVER/healthz" || true)
		[ "$code" = 200 ] && break
		sleep 0.05
	done
	[ "$code" = 200 ]
}

@test "IPv6: listens on [::1]:0 and sees IPv6 peers" {
	has_ipv6_loopback || skip "no ::1 on this machine"
	launch_dird -l '[::1]:0' -d "$DIRD_DB"
	jq -e '.type == "listening" and .addr == "::1" and .port > 0' "$DIRD_OUT"
	[ "$CHAT_SERVER" = "http://[::1]:$DIRD_PORT" ]
	get /healthz
	expect 200 '.status == "ok"'
	post /register '{"username":"six","port":5000}'
	expect 201 '.ip == "::1" and .observed_ip == "::1"'
	get '/peerinfo?username=six'
	expect 200 '.ip == "::1"'
}

@test "keep-alive: several requests on one connection" {
	start_dird
	register alice
	conns=$(curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
		"$CHAT_SERVER/healthz" "$CHAT_SERVER/peers" "$CHAT_SERVER/peerinfo?username=alice")
	[ "$conns" = "$(printf '200 1\n200 0\n200 0')" ]
}
