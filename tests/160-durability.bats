#!/usr/bin/env bats
# Durability: chat-dird killed with SIGKILL under concurrent writers keeps
# every write it answered 2xx, stores nothing twice, keeps batches whole,
# and answers retries of the same uids with the ids it gave first.
# shellcheck disable=SC2154,SC2030,SC2031 # helpers set $body etc.; each @test is its own subshell

load helper
load api-helper

WRITERS=8
PER_WRITER=200
BATCHES=40
BATCH_SIZE=10

setup() {
	start_dird
	register alice
	register bob
	W=$BATS_TEST_TMPDIR/w
	mkdir "$W"
}

teardown() {
	local p
	if [ -f "$W/pids" ]; then
		while read -r p; do
			kill "$p" 2>/dev/null || true
		done <"$W/pids"
	fi
	stop_dird
	check_errors
	no_5xx_logged
}

# writer N: posts PER_WRITER messages with uids d-N-1..., one curl each;
# records each uid answered 2xx in $W/acked.N; stops when the daemon is
# gone.
writer() {
	local w=$1 i code
	for i in $(seq 1 "$PER_WRITER"); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
			-H 'Content-Type: application/json' --data-binary \
			"{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"writer $w message $i\",\"uid\":\"d-$w-$i\"}" \
			"$CHAT_SERVER/message/create/") || true
		case $code in
		2??) echo "d-$w-$i" >>"$W/acked.$w" ;;
		000) return 0 ;; # the daemon is gone: nothing more to learn
		esac
	done
}

# batch_json J: batch J of BATCH_SIZE messages with uids b-J-1...
batch_json() {
	jq -nc --arg j "$1" --argjson n "$BATCH_SIZE" \
		'{messages: [range(1; $n + 1) | {sender: "bob", receiver: "alice", content: "batch \($j) item \(.)", uid: "b-\($j)-\(.)"}]}'
}

# batch_writer: posts BATCHES batches; records each batch answered 2xx;
# stops when the daemon is gone.
batch_writer() {
	local j code
	for j in $(seq 1 "$BATCHES"); do
		code=$(batch_json "$j" | curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
			-H 'Content-Type: application/json' --data-binary @- \
			"$CHAT_SERVER/message/create/") || true
		case $code in
		2??) echo "$j" >>"$W/acked.batches" ;;
		000) return 0 ;;
		esac
	done
}

# uid_ids USER: prints "uid id" for every message in USER's inbox, sorted.
uid_ids() {
	get "/message/inbox/?username=$1"
	expect 200 '.messages | type == "array"' || return 1
	printf '%s' "$body" | jq -r '.messages[] | "\(.uid) \(.id)"' | sort
}

@test "kill -9 under 9 concurrent writers: every acknowledged write survives, once" {
	SECONDS=0
	touch "$W/acked.batches"
	for w in $(seq 1 "$WRITERS"); do
		touch "$W/acked.$w"
		writer "$w" &
		echo $! >>"$W/pids"
	done
	batch_writer &
	echo $! >>"$W/pids"

	# Kill the daemon once a good part of the writes are answered.
	while [ "$SECONDS" -lt 15 ]; do
		[ "$(cat "$W"/acked.[0-9]* | wc -l)" -ge 250 ] && break
		sleep 0.02
	done
	kill -9 "$DIRD_PID"
	wait "$DIRD_PID" || true
	DIRD_PID=
	while read -r p; do wait "$p" || true; done <"$W/pids"
	rm -f "$W/pids"

	cat "$W"/acked.[0-9]* | sort >"$W/acked"
	acked=$(wc -l <"$W/acked")
	echo "# acknowledged before the kill: $acked single, $(wc -l <"$W/acked.batches") batches" >&3
	[ "$acked" -ge 250 ]
	# The kill came mid-way: some writes were refused.
	[ "$acked" -lt $((WRITERS * PER_WRITER)) ]

	echo "# killed at ${SECONDS}s" >&3
	start_dird
	[ -n "${CHAT_TEST_PG:-}" ] || [ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
	[ "$(db_sql 'SELECT count(*) - count(DISTINCT uid) FROM messages')" = 0 ]

	# Every acknowledged single message is there, exactly once.
	uid_ids bob >"$W/bob"
	cut -d' ' -f1 "$W/bob" >"$W/present"
	[ -z "$(uniq -d "$W/present")" ]
	missing=$(comm -23 "$W/acked" "$W/present")
	[ -z "$missing" ] || { echo "lost: $missing" >&2; return 1; }
	for u in $(shuf -n 20 "$W/acked"); do
		[ "$(db_sql "SELECT count(*) FROM messages WHERE uid = '$u'")" = 1 ]
	done

	# Batches are whole or absent; every acknowledged one is whole.
	uid_ids alice >"$W/alice"
	for j in $(seq 1 "$BATCHES"); do
		n=$(grep -c "^b-$j-" "$W/alice" || true)
		if grep -qx "$j" "$W/acked.batches"; then
			[ "$n" -eq "$BATCH_SIZE" ] || { echo "batch $j acked, $n stored" >&2; return 1; }
		else
			[ "$n" -eq 0 ] || [ "$n" -eq "$BATCH_SIZE" ] ||
				{ echo "batch $j: $n of $BATCH_SIZE stored" >&2; return 1; }
		fi
	done

	echo "# checked at ${SECONDS}s" >&3
	# Retrying everything with the same uids stores each message once,
	# and a message stored before keeps its first id.
	for w in $(seq 1 "$WRITERS"); do
		jq -nc --arg w "$w" --argjson n "$PER_WRITER" \
			'{messages: [range(1; $n + 1) | {sender: "alice", receiver: "bob", content: "writer \($w) message \(.)", uid: "d-\($w)-\(.)"}]}' \
			>"$W/retry.json"
		post_file /message/create/ "$W/retry.json"
		[[ "$status_code" == 20[01] ]] || { echo "retry $w: $status_code $body" >&2; return 1; }
		expect "$status_code" ".message_ids | length == $PER_WRITER"
		printf '%s' "$body" | jq -r --arg w "$w" '.message_ids | to_entries[] | "d-\($w)-\(.key + 1) \(.value)"' >>"$W/retried"
	done
	sort "$W/retried" >"$W/retried.sorted"
	# The ids of messages stored before the retry did not change.
	[ -z "$(comm -23 "$W/bob" "$W/retried.sorted")" ]
	uid_ids bob >"$W/bob.after"
	[ "$(wc -l <"$W/bob.after")" -eq $((WRITERS * PER_WRITER)) ]
	diff "$W/retried.sorted" "$W/bob.after"
	[ -n "${CHAT_TEST_PG:-}" ] || [ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
}
