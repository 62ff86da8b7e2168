#!/usr/bin/env bats
# A full disk: chat-dird answers writes 503 storage_full with a JSON error,
# goes on answering reads, corrupts nothing, and takes writes again once
# there is room. The disk is a 2 MiB tmpfs, so this needs root.
# shellcheck disable=SC2154 # helpers set $body etc.

load helper
load api-helper

setup() {
	FS=$BATS_TEST_TMPDIR/fs
	mkdir "$FS"
	MOUNTED=
	if [ "$(id -u)" -ne 0 ]; then
		skip "mounting a small tmpfs needs root"
	fi
	if ! mount -t tmpfs -o size=2m,mode=0700 chat-test "$FS" 2>/dev/null; then
		skip "cannot mount a tmpfs here (a container without CAP_SYS_ADMIN?)"
	fi
	MOUNTED=1
	DIRD_DB=$FS/dir.db
}

teardown() {
	stop_dird
	if [ -n "$MOUNTED" ]; then
		umount "$FS" 2>/dev/null || umount -l "$FS"
	fi
	check_errors
}

# figure VALUE: what this test measured, a line for tests/reliability.
figure() {
	printf 'figure\t%s\t%s\n' "$BATS_TEST_DESCRIPTION" "$1" >>"${RELIABILITY_OUT:-/dev/null}"
}

# fill [KIB]: takes the free space of the tmpfs with a filler file but
# KIB KiB (default none).
fill() {
	local avail
	avail=$(df -k --output=avail "$FS" | tail -n 1 | tr -d ' ')
	if [ "${1:-0}" -gt 0 ]; then
		dd if=/dev/zero of="$FS/filler" bs=1024 count=$((avail - $1)) 2>/dev/null
		return 0
	fi
	dd if=/dev/zero of="$FS/filler" bs=4096 2>/dev/null || true
	[ "$(df --output=avail "$FS" | tail -n 1 | tr -d ' ')" -eq 0 ]
}

# write_until_full N: posts messages of 8 KiB, up to N of them, until one
# is refused; each 2xx one is recorded in $ACKED. Sets $full_at.
write_until_full() {
	local i
	full_at=
	for i in $(seq 1 "$1"); do
		post /message/create/ "{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"$PAD $i\",\"uid\":\"full-$i\"}"
		case $status_code in
		200 | 201) echo "full-$i" >>"$ACKED" ;;
		*)
			full_at=$i
			return 0
			;;
		esac
	done
}

@test "disk full: writes 503 storage_full, reads 200, nothing corrupt, writes again with room" {
	ACKED=$BATS_TEST_TMPDIR/acked
	: >"$ACKED"
	PAD=$(repeat x 8192)
	start_dird
	register alice
	register bob
	send alice bob "before the disk filled" before-1
	# Room for a few writes, so the disk fills up between two of them.
	fill 256

	write_until_full 300
	[ -n "$full_at" ] || { echo "300 writes of 8 KiB fit in 256 KiB" >&2; return 1; }
	[ "$full_at" -gt 1 ]
	expect_error 503 storage_full
	echo "# the disk was full at write $full_at ($(wc -l <"$ACKED") fitted in the log)" >&3

	# Every kind of write is refused the same way, and none is half done.
	refused=1
	for _ in 1 2 3; do
		post /message/create/ "{\"sender\":\"alice\",\"receiver\":\"bob\",\"content\":\"$PAD again\"}"
		expect_error 503 storage_full
		refused=$((refused + 1))
	done
	post /message/create/ "{\"messages\":[{\"sender\":\"bob\",\"receiver\":\"alice\",\"content\":\"$PAD b1\",\"uid\":\"batch-1\"},{\"sender\":\"bob\",\"receiver\":\"alice\",\"content\":\"$PAD b2\",\"uid\":\"batch-2\"}]}"
	expect_error 503 storage_full
	refused=$((refused + 1))
	post /register "{\"username\":\"carol-$(repeat c 40)\",\"port\":5000}"
	if [ "$status_code" = 503 ]; then
		expect_error 503 storage_full
		refused=$((refused + 1))
	fi

	# Reads go on.
	reads=0
	for path in "/peerinfo?username=alice" /peers "/message/get/?peer1=alice&peer2=bob&last=5" \
		"/message/inbox/?username=bob&limit=3" "/friend/get/?username=alice"; do
		get "$path"
		expect 200
		reads=$((reads + 1))
	done
	get "/message/get/?peer1=alice&peer2=bob"
	expect 200 '.messages[0].message == "before the disk filled"'
	kill -0 "$DIRD_PID"

	# Room again: writes are taken; the refused batch was stored whole or
	# not at all (not at all, since it was refused).
	rm -f "$FS/filler"
	send alice bob "after the disk had room" after-1
	post /message/create/ "{\"messages\":[{\"sender\":\"bob\",\"receiver\":\"alice\",\"content\":\"b1\",\"uid\":\"batch-1\"},{\"sender\":\"bob\",\"receiver\":\"alice\",\"content\":\"b2\",\"uid\":\"batch-2\"}]}"
	expect 201 '.message_ids | length == 2'
	get "/message/get/?peer1=alice&peer2=bob&last=3"
	expect 200 'any(.messages[]; .message == "after the disk had room")'

	stop_dird
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
	sqlite3 "$DIRD_DB" 'SELECT uid FROM messages' | sort >"$BATS_TEST_TMPDIR/present"
	[ -z "$(comm -23 <(sort "$ACKED") "$BATS_TEST_TMPDIR/present")" ]
	[ "$(sqlite3 "$DIRD_DB" "SELECT count(*) FROM messages WHERE uid LIKE 'batch-%'")" = 2 ]
	[ "$(sqlite3 "$DIRD_DB" "SELECT content FROM messages WHERE uid = 'batch-1'")" = b1 ]

	# Full again after a restart: reads work, writes are 503 again.
	start_dird
	fill
	write_until_full 300
	[ -n "$full_at" ]
	expect_error 503 storage_full
	get /peers
	expect 200
	rm -f "$FS/filler"
	send alice bob "room once more" after-2
	stop_dird
	[ "$(sqlite3 "$DIRD_DB" 'PRAGMA integrity_check')" = ok ]
	no_5xx_other_than_full
	figure "$refused writes refused 503 storage_full, $reads reads answered 200; writes resumed; integrity_check ok; lost 0"
}

# no_5xx_other_than_full: no request was answered a 5xx other than 503
# (the log does not carry the code, so any 500 is a failure).
no_5xx_other_than_full() {
	if grep '"status": *5[0-9][0-9]' "$DIRD_LOG" | grep -v '"status": *503' >&2; then
		echo "a request was answered 5xx other than 503" >&2
		return 1
	fi
}
