#!/usr/bin/env bats
# A database file that is not chat-dird's, is corrupt, truncated or of a
# newer schema: chat-dird says why on stderr, exits 65, and leaves the
# file byte for byte as it was, with nothing new beside it.

load helper

setup() {
	D=$BATS_TEST_TMPDIR/db
	mkdir "$D"
}

teardown() {
	stop_dird
}

# figure VALUE: what this test measured, a line for tests/reliability.
figure() {
	printf 'figure\t%s\t%s\n' "$BATS_TEST_DESCRIPTION" "$1" >>"${RELIABILITY_OUT:-/dev/null}"
}

# good_db FILE: a real chat-dird database with a few peers and messages,
# folded back into one file by a clean stop.
good_db() {
	local i
	DIRD_DB=$1 start_dird
	for i in 1 2 3 4 5 6 7 8; do
		curl -s -o /dev/null -H 'Content-Type: application/json' \
			-d "{\"username\":\"user$i\",\"port\":500$i}" "$CHAT_SERVER/register"
	done
	for i in $(seq 1 200); do
		printf '{"sender":"user1","receiver":"user2","content":"%s message %d"}\n' \
			"$(head -c 300 /dev/zero | tr '\0' x)" "$i"
	done | jq -sc '{messages: .}' |
		curl -s -o /dev/null -H 'Content-Type: application/json' \
			--data-binary @- "$CHAT_SERVER/message/create/"
	stop_dird
	[ ! -e "$1-wal" ] || [ ! -s "$1-wal" ]
	rm -f "$1-wal" "$1-shm"
}

# refused FILE WHY: chat-dird on FILE exits 65 within 10 s with an error
# line on stderr matching WHY, and FILE is unchanged with nothing beside.
refused() {
	local f=$1 why=$2 sum rc=0 before after
	sum=$(sha256sum <"$f")
	before=$(cd "$D" && ls -a)
	timeout 10 chat-dird -l 127.0.0.1:0 -d "$f" >"$D.out" 2>"$D.err" || rc=$?
	if [ "$rc" -ne 65 ]; then
		echo "$(basename "$f"): exit $rc, not 65" >&2
		cat "$D.err" >&2
		return 1
	fi
	[ ! -s "$D.out" ] || { echo "stdout: $(cat "$D.out")" >&2; return 1; }
	jq -e --arg why "$why" 'select(.level == "error") | .error | test($why)' "$D.err" >/dev/null ||
		{ echo "no error line matching '$why':" >&2; cat "$D.err" >&2; return 1; }
	[ "$(sha256sum <"$f")" = "$sum" ] || { echo "$(basename "$f") was changed" >&2; return 1; }
	after=$(cd "$D" && ls -a)
	[ "$before" = "$after" ] || { echo "files beside it: $after" >&2; return 1; }
	tried=$((tried + 1))
}

@test "files that are not a chat-dird database, corrupt, truncated or newer: exit 65, untouched" {
	tried=0
	good_db "$BATS_TEST_TMPDIR/good.db"
	good=$BATS_TEST_TMPDIR/good.db
	size=$(stat -c %s "$good")
	[ "$size" -ge 65536 ]

	# Another program's SQLite database.
	sqlite3 "$D/foreign.db" 'CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES (1)'
	refused "$D/foreign.db" 'not a chat-dird database'
	# Another program's, with an application_id of its own.
	sqlite3 "$D/otherapp.db" 'PRAGMA application_id = 1234; PRAGMA user_version = 2; CREATE TABLE peers(x)'
	refused "$D/otherapp.db" 'not a chat-dird database'
	# Not SQLite at all: text, random bytes, an SQLite header on noise.
	printf 'username,ip,port\nalice,127.0.0.1,5000\n' >"$D/text.db"
	refused "$D/text.db" 'not a database'
	head -c 65536 /dev/urandom >"$D/random.db"
	refused "$D/random.db" 'not a database'
	{ head -c 100 "$good"; head -c 65436 /dev/urandom; } >"$D/noise.db"
	refused "$D/noise.db" 'malformed|not a database|corrupt|integrity'
	# Ours, of a newer schema.
	cp "$good" "$D/newer.db"
	sqlite3 "$D/newer.db" 'PRAGMA user_version = 99'
	refused "$D/newer.db" 'newer'
	# Ours, truncated: half, one page, one byte short of a page.
	for keep in $((size / 2)) 4096 4095; do
		cp "$good" "$D/trunc-$keep.db"
		truncate -s "$keep" "$D/trunc-$keep.db"
		refused "$D/trunc-$keep.db" 'malformed|not a database|corrupt|integrity'
	done
	# Ours, with pages overwritten: noise, zeros, one page in the middle.
	cp "$good" "$D/noisy.db"
	dd if=/dev/urandom of="$D/noisy.db" bs=4096 seek=1 count=$((size / 4096 - 1)) conv=notrunc 2>/dev/null
	refused "$D/noisy.db" 'malformed|corrupt|integrity'
	cp "$good" "$D/zeroed.db"
	dd if=/dev/zero of="$D/zeroed.db" bs=4096 seek=2 count=$((size / 4096 - 2)) conv=notrunc 2>/dev/null
	refused "$D/zeroed.db" 'malformed|corrupt|integrity'
	cp "$good" "$D/onepage.db"
	dd if=/dev/urandom of="$D/onepage.db" bs=4096 seek=$((size / 8192)) count=1 conv=notrunc 2>/dev/null
	refused "$D/onepage.db" 'malformed|corrupt|integrity'

	# The good one still opens, so the refusals were about the files.
	DIRD_DB=$good start_dird
	api GET '/peerinfo?username=user8'
	expect 200 '.port == 5008'
	echo "# $tried bad files refused" >&3
	figure "$tried bad files tried: each exit 65 with a reason, left byte-identical"
}

@test "a database path that cannot be opened: exit 74 with a reason" {
	mkdir "$D/adir.db"
	rc=0
	timeout 10 chat-dird -l 127.0.0.1:0 -d "$D/adir.db" 2>"$D.err" || rc=$?
	[ "$rc" -eq 74 ] || [ "$rc" -eq 65 ] || { echo "exit $rc" >&2; cat "$D.err" >&2; return 1; }
	grep -q 'adir.db' "$D.err"
	rc=0
	timeout 10 chat-dird -l 127.0.0.1:0 -d "$D/no/such/dir/x.db" 2>"$D.err" || rc=$?
	[ "$rc" -eq 74 ] || { echo "exit $rc" >&2; cat "$D.err" >&2; return 1; }
	[ ! -e "$D/no" ]
	figure "a folder and a path under a missing folder: each refused with a reason, nothing created"
}
