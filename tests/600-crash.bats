#!/usr/bin/env bats
# Crash safety: chat-dird killed with SIGKILL twenty times, each time under
# 32 concurrent writers, loses no write it answered 2xx, stores none twice
# and keeps a database that passes PRAGMA integrity_check.
# shellcheck disable=SC2154 # helpers set $body etc.

load helper
load api-helper

ROUNDS=20
WRITERS=32
PER_WRITER=120

setup() {
	W=$BATS_TEST_TMPDIR/w
	mkdir "$W"
	: >"$W/pids"
}

teardown() {
	local p
	while read -r p; do
		kill "$p" 2>/dev/null || true
	done <"$W/pids"
	stop_dird
}

# figure VALUE: what this test measured, a line for tests/reliability.
figure() {
	printf 'figure\t%s\t%s\n' "$BATS_TEST_DESCRIPTION" "$1" >>"${RELIABILITY_OUT:-/dev/null}"
}

# configs R: one curl config per writer for round R, PER_WRITER POSTs
# each with uids c-R-W-I; the writer's first requests retry the uids of
# its previous round that got no 2xx (stored or not: the daemon died).
configs() {
	local r=$1 w
	for w in $(seq 1 "$WRITERS"); do
		{
			[ ! -f "$W/retry.$w" ] || cat "$W/retry.$w"
			seq 1 "$PER_WRITER" | sed "s/^/c-$r-$w-/"
		} >"$W/uids.$w"
		awk -v s="$CHAT_SERVER" '{
			if (NR > 1) print "next"
			print "url = \"" s "/message/create/\""
			print "header = \"Content-Type: application/json\""
			print "data-binary = \"{\\\"sender\\\":\\\"alice\\\",\\\"receiver\\\":\\\"bob\\\",\\\"content\\\":\\\"text of " $0 "\\\",\\\"uid\\\":\\\"" $0 "\\\"}\""
			print "output = \"/dev/null\""
			print "write-out = \"%{http_code}\\n\""
		}' "$W/uids.$w" >"$W/cfg.$w"
	done
}

# tally: pairs each writer's uids with the codes it got; appends the 2xx
# ones to acked, keeps the others (tried, fate unknown) for the retry.
tally() {
	local w
	for w in $(seq 1 "$WRITERS"); do
		paste "$W/uids.$w" <(cat "$W/codes.$w"; yes 000 | head -n "$(wc -l <"$W/uids.$w")") |
			head -n "$(wc -l <"$W/uids.$w")" >"$W/pairs.$w"
		awk '$2 ~ /^2/ { print $1 }' "$W/pairs.$w" >>"$W/acked"
		awk '$2 !~ /^2/ { print $1 }' "$W/pairs.$w" >"$W/retry.$w"
		cut -f1 "$W/uids.$w" >>"$W/tried"
	done
}

@test "kill -9 twenty times under 32 concurrent writers: every 2xx write survives, once" {
	SECONDS=0
	start_dird
	register alice
	register bob
	: >"$W/acked"
	: >"$W/tried"
	cut_short=0
	for r in $(seq 1 "$ROUNDS"); do
		configs "$r"
		: >"$W/pids"
		for w in $(seq 1 "$WRITERS"); do
			curl -s --connect-timeout 2 --max-time 5 -K "$W/cfg.$w" \
				>"$W/codes.$w" 2>/dev/null &
			echo $! >>"$W/pids"
		done
		# Kill it at a different moment of the burst each round.
		sleep "0.$((1 + RANDOM % 4))"
		kill -9 "$DIRD_PID"
		wait "$DIRD_PID" || true
		DIRD_PID=
		while read -r p; do wait "$p" || true; done <"$W/pids"
		: >"$W/pids"
		tally
		# The kill came mid-burst when some request got no answer.
		if cat "$W"/retry.* | grep -q .; then
			cut_short=$((cut_short + 1))
		fi

		start_dird
		[ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
		sqlite3 "$DIRD_DB" 'SELECT uid FROM messages' | sort >"$W/present"
		sort -u "$W/acked" >"$W/acked.sorted"
		missing=$(comm -23 "$W/acked.sorted" "$W/present")
		[ -z "$missing" ] || { echo "round $r lost: $missing" >&2; return 1; }
		[ -z "$(uniq -d "$W/present")" ]
		# Nothing stored that was not sent, and no text twice.
		[ -z "$(comm -13 <(sort -u "$W/tried") "$W/present")" ]
		[ "$(sqlite3 "$DIRD_DB" 'SELECT count(*) = count(DISTINCT content) FROM messages')" = 1 ]
		[ "$SECONDS" -lt 90 ] || { echo "round $r at ${SECONDS}s: too slow" >&2; return 1; }
	done
	acked=$(sort -u "$W/acked" | wc -l)
	stored=$(wc -l <"$W/present")
	echo "# $ROUNDS kills in ${SECONDS}s, $cut_short cut a burst short; $acked writes answered 2xx, $stored stored, none lost" >&3
	# Most kills landed while requests were in flight.
	[ "$cut_short" -ge $((ROUNDS / 2)) ]
	[ "$acked" -ge $((ROUNDS * 50)) ]

	# Retrying every uid ever tried stores nothing new: each answers 200
	# with the id it has.
	before=$(sqlite3 "$DIRD_DB" 'SELECT count(*) FROM messages')
	sort -u "$W/acked" | head -n 1000 | jq -R '{sender: "alice", receiver: "bob", content: ("text of " + .), uid: .}' |
		jq -sc '{messages: .}' >"$W/again.json"
	post_file /message/create/ "$W/again.json"
	[[ "$status_code" == 20[01] ]] || { echo "retry: $status_code $body" >&2; return 1; }
	[ "$(sqlite3 "$DIRD_DB" 'SELECT count(*) FROM messages')" -eq "$before" ]
	stop_dird
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
	figure "$ROUNDS kills survived; $acked writes answered 2xx, lost 0, stored twice 0; integrity_check ok"
}
