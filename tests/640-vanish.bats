#!/usr/bin/env bats
# Peers that vanish: senders that hang up mid-handshake, mid-message and
# mid-ack leave chat-listen serving the next one, printing only whole
# messages and none twice; listeners that hang up or go silent leave
# chat-send with a true report, and every message delivered or stored.

load helper
bats_require_minimum_version 1.5.0

ROUNDS=30

setup() {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	W=$BATS_TEST_TMPDIR/w
	mkdir "$W"
	LISTEN_PID=
	FAKE_PID=
	start_dird -q
	chat-register -u alice -p 1 >/dev/null
	chat-register -u bob -p 1 >/dev/null
}

teardown() {
	local p
	for p in "$LISTEN_PID" "$FAKE_PID"; do
		[ -n "$p" ] || continue
		kill -CONT "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_dird
}

# figure VALUE: what this test measured, a line for tests/reliability.
figure() {
	printf 'figure\t%s\t%s\n' "$BATS_TEST_DESCRIPTION" "$1" >>"${RELIABILITY_OUT:-/dev/null}"
}

# start_listen [ARGS...]: chat-listen -u bob on 127.0.0.1 (--plaintext
# where a test writes wire v1 by hand); sets LISTEN_PID,
# LISTEN_PORT, LISTEN_OUT.
start_listen() {
	LISTEN_OUT=$W/listen.out
	: >"$LISTEN_OUT"
	chat-listen -u bob -a 127.0.0.1 --no-register --no-catch-up "$@" \
		>"$LISTEN_OUT" 2>"$W/listen.err" &
	LISTEN_PID=$!
	for _ in $(seq 1 100); do
		if grep -q '"listening"' "$LISTEN_OUT"; then
			LISTEN_PORT=$(head -n 1 "$LISTEN_OUT" | jq -r .port)
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# still_serves TEXT: a normal sender gets TEXT through, acknowledged, and
# the listener prints it once.
still_serves() {
	local out
	kill -0 "$LISTEN_PID" || { echo "chat-listen is gone" >&2; return 1; }
	out=$(timeout 10 chat-send -u alice -t 5 --no-store --direct "127.0.0.1:$LISTEN_PORT" bob "$1") ||
		{ echo "chat-send: $out" >&2; return 1; }
	printf '%s\n' "$out" | jq -e '.delivered == true' >/dev/null
	[ "$(grep -c -F "\"text\":\"$1\"" "$LISTEN_OUT")" -eq 1 ]
}

# vanish BYTES...: connects to the listener, writes BYTES (printf
# escapes), and hangs up at once without reading what it answered.
vanish() {
	exec 8<>"/dev/tcp/127.0.0.1/$LISTEN_PORT" || return 1
	# shellcheck disable=SC2059 # the argument is the format
	printf "$1" >&8 2>/dev/null || true
	exec 8>&-
}

# graceful BYTES...: as vanish, but reads the answers for 0.2 s first,
# so that the hang-up is a clean FIN, not a reset.
graceful() {
	exec 8<>"/dev/tcp/127.0.0.1/$LISTEN_PORT" || return 1
	# shellcheck disable=SC2059 # the argument is the format
	printf "$1" >&8 2>/dev/null || true
	timeout 0.2 cat <&8 >/dev/null 2>&1 || true
	exec 8>&-
}

HELLO='{"type":"hello","v":1,"from":"alice","to":"bob"}'

# msg UID TEXT: a msg line.
msg() {
	printf '{"type":"msg","uid":"%s","text":"%s"}' "$1" "$2"
}

@test "senders that vanish mid-handshake, mid-message and mid-ack: chat-listen goes on, prints whole messages once" {
	start_listen --plaintext
	n=0
	clean=0
	for r in $(seq 1 "$ROUNDS"); do
		# mid-handshake: nothing, half a hello, a hello but no reading
		vanish ''
		vanish '{"type":"hel'
		vanish "$HELLO\\n"
		# mid-message: a hello and half a message line
		vanish "$HELLO\\n$(msg "half-$r" "never whole")"
		vanish "$HELLO\\n$(msg "whole-$r" "whole $r")\\n$(msg "cut-$r" "cut")"
		# mid-ack: twenty messages, gone before the acknowledgements
		burst=$HELLO'\n'
		for i in $(seq 1 20); do
			burst=$burst$(msg "ack-$r-$i" "unread ack $r $i")'\n'
		done
		vanish "$burst"
		n=$((n + 6))
		if [ $((r % 6)) -eq 0 ]; then
			# mid-message after reading the hello, so the hang-up is a
			# clean one: the whole message before the cut is printed
			graceful "$HELLO\n$(msg "clean-$r" "clean $r")\n$(msg "cut-$r" "cut")"
			clean=$((clean + 1))
			n=$((n + 1))
		fi
		if [ $((r % 10)) -eq 0 ]; then
			still_serves "still here after round $r"
		fi
	done
	still_serves "still here at the end"
	sleep 0.3
	# No half message, and no message twice.
	if grep '"half-\|"cut-' "$LISTEN_OUT" >&2; then return 1; fi
	jq -r 'select(.type == "message") | .uid' "$LISTEN_OUT" | sort >"$W/printed"
	[ -z "$(uniq -d "$W/printed")" ]
	# Each whole message is printed whole.
	jq -e -s 'map(select(.type == "message" and (.uid | startswith("ack-")))) |
		all(.text == "unread ack \(.uid | ltrimstr("ack-") | sub("-"; " "))")' "$LISTEN_OUT" >/dev/null
	[ "$(grep -c '^clean-' "$W/printed")" -eq "$clean" ]
	whole=$(grep -c '^whole-' "$W/printed" || true)
	acks=$(grep -c '^ack-' "$W/printed" || true)
	echo "# $n vanishing senders; printed: $clean of $clean whole messages before a clean cut, $whole of $ROUNDS before an abortive one, $acks of $((ROUNDS * 20)) unacknowledged ones" >&3
	figure "$n vanishing senders; listener kept serving; 0 partial messages printed, 0 printed twice"
}

@test "a sender killed after its handshake, and one frozen mid-line: the others are served" {
	CHAT_IDLE_TIMEOUT=2 start_listen --plaintext
	# Connected, said hello, then killed.
	mkfifo "$W/in"
	chat-send -u alice -t 5 --no-store --direct "127.0.0.1:$LISTEN_PORT" bob \
		<"$W/in" >/dev/null 2>&1 &
	victim=$!
	exec {hold}>"$W/in"
	for _ in $(seq 1 100); do
		grep -q '"connect"' "$LISTEN_OUT" && break
		sleep 0.05
	done
	grep -q '"connect"' "$LISTEN_OUT"
	kill -KILL "$victim"
	wait "$victim" 2>/dev/null || true
	exec {hold}>&-
	still_serves "after a killed sender"
	# Frozen mid-line: the idle timeout closes it; meanwhile others pass.
	exec 9<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
	printf '%s\n{"type":"msg","uid":"frozen","te' "$HELLO" >&9
	still_serves "beside a frozen sender"
	for _ in $(seq 1 100); do
		grep -q '"reason":"idle_timeout"' "$LISTEN_OUT" && break
		sleep 0.05
	done
	exec 9>&-
	grep -q '"reason":"idle_timeout"' "$LISTEN_OUT"
	if grep '"frozen"' "$LISTEN_OUT" >&2; then return 1; fi
	still_serves "after the frozen sender"
	figure "a sender killed -9 after its hello and one frozen mid-line: 3 normal senders served meanwhile and after; the frozen one closed by idle_timeout; its half message not printed"
}

# fake MODE [K]: a stand-in listener for bob on an ephemeral port, run by
# perl; sets FAKE_PID and FAKE_PORT. MODE is close (accepts and hangs up
# at once), mute (accepts, reads, never answers), or ack (handshakes,
# acknowledges the first K messages, then hangs up). It serves one
# connection, logs the uids it acknowledged to $W/fake.acked, and exits.
fake() {
	: >"$W/fake.acked"
	: >"$W/fake.port"
	perl -MIO::Socket::INET -e '
		my ($mode, $k, $log, $portf) = @ARGV;
		my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
			Listen => 16, ReuseAddr => 1) or die "listen: $!";
		open(my $pf, ">", $portf) or die; print $pf $l->sockport, "\n"; close $pf;
		local $SIG{ALRM} = sub { exit 0 }; alarm 20;
		my $c = $l->accept or exit 1;
		close $l;
		$c->autoflush(1);
		if ($mode eq "close") { close $c; exit 0 }
		if ($mode eq "mute") { while (<$c>) {} exit 0 }
		my $hello = <$c>;
		print $c "{\"type\":\"hello\",\"v\":1,\"from\":\"bob\"}\n";
		open(my $lf, ">>", $log) or die; $lf->autoflush(1);
		my $n = 0;
		while ($n < $k and defined(my $line = <$c>)) {
			my ($uid) = $line =~ /"uid":"([^"]+)"/ or next;
			print $c "{\"type\":\"ack\",\"uid\":\"$uid\"}\n";
			print $lf "$uid\n";
			$n++;
		}
		close $c;
	' "$1" "${2:-0}" "$W/fake.acked" "$W/fake.port" 2>"$W/fake.err" &
	FAKE_PID=$!
	for _ in $(seq 1 100); do
		if [ -s "$W/fake.port" ]; then
			FAKE_PORT=$(cat "$W/fake.port")
			return 0
		fi
		sleep 0.05
	done
	cat "$W/fake.err" >&2
	return 1
}

# lines N: the messages v1..vN, a line each.
lines() {
	seq 1 "$1" | sed 's/^/v/'
}

# report_is_true N: chat-send's report in $W/send.out has N lines; each
# delivered one was acknowledged by the fake; each is stored, and each
# stored one is in bob's inbox with its id.
report_is_true() {
	[ "$(wc -l <"$W/send.out")" -eq "$1" ] || { cat "$W/send.out" >&2; return 1; }
	jq -r 'select(.delivered) | .uid' "$W/send.out" | sort >"$W/delivered"
	sort "$W/fake.acked" >"$W/acked"
	diff "$W/acked" "$W/delivered"
	[ "$(jq -s 'all(.stored)' "$W/send.out")" = true ]
	api_as bob GET '/message/inbox/?username=bob'
	jq -r '.messages[] | "\(.uid) \(.id)"' <<<"$body" | sort >"$W/inbox"
	jq -r '"\(.uid) \(.id)"' "$W/send.out" | sort >"$W/reported"
	[ -z "$(comm -23 "$W/reported" "$W/inbox")" ]
}

@test "listeners that vanish mid-handshake, mid-stream and mid-ack: chat-send's report is true, nothing lost" {
	cases=0
	# The stand-in speaks wire v1: chat-send --plaintext.
	# Hangs up before the hello.
	fake close
	run --separate-stderr timeout 20 chat-send -u alice -t 2 --plaintext --direct "127.0.0.1:$FAKE_PORT" bob one
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$W/send.out"
	report_is_true 1
	jq -e '.delivered == false and .stored == true' "$W/send.out"
	wait "$FAKE_PID" || true
	cases=$((cases + 1))

	# Takes the hello and never answers.
	fake mute
	run --separate-stderr timeout 20 chat-send -u alice -t 2 --plaintext --direct "127.0.0.1:$FAKE_PORT" bob two
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$W/send.out"
	report_is_true 1
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" || true
	cases=$((cases + 1))

	# Acknowledges some of a stream, then hangs up mid-stream, unread
	# messages in its buffer: after 0, 1, 7 and 40 of 50.
	for k in 0 1 7 40; do
		fake ack "$k"
		rc=0
		lines 50 | timeout 30 chat-send -u alice -t 2 --plaintext --direct "127.0.0.1:$FAKE_PORT" bob \
			>"$W/send.out" 2>"$W/send.err" || rc=$?
		[ "$rc" -eq 0 ] || { echo "ack $k: exit $rc" >&2; cat "$W/send.err" >&2; return 1; }
		wait "$FAKE_PID" || true
		report_is_true 50
		[ "$(wc -l <"$W/fake.acked")" -eq "$k" ]
		cases=$((cases + 1))
	done
	echo "# $cases vanishing listeners: every report true, every message delivered or stored" >&3
	figure "$cases vanishing listeners; every report true; every message delivered or stored; lost 0"
}

@test "a listener frozen mid-stream (SIGSTOP): chat-send gives up in time, stores the rest, reports truly" {
	start_listen
	lines 2000 | awk '{ print; if (NR % 200 == 0) { fflush(); system("sleep 0.05") } }' |
		timeout 60 chat-send -u alice -t 2 --direct "127.0.0.1:$LISTEN_PORT" bob \
			>"$W/send.out" 2>"$W/send.err" &
	send=$!
	for _ in $(seq 1 200); do
		[ "$(grep -c '"type":"message"' "$LISTEN_OUT")" -ge 300 ] && break
		sleep 0.02
	done
	kill -STOP "$LISTEN_PID"
	rc=0
	wait "$send" || rc=$?
	kill -CONT "$LISTEN_PID"
	[ "$rc" -eq 0 ] || { echo "exit $rc" >&2; cat "$W/send.err" >&2; return 1; }
	[ "$(wc -l <"$W/send.out")" -eq 2000 ]
	[ "$(jq -s 'all(.stored)' "$W/send.out")" = true ]
	jq -s -e 'any(.delivered | not)' "$W/send.out" >/dev/null
	sleep 0.5
	# Each message reported delivered was printed.
	jq -r 'select(.delivered) | .uid' "$W/send.out" | sort >"$W/delivered"
	jq -r 'select(.type == "message") | .uid' "$LISTEN_OUT" | sort >"$W/printed"
	[ -z "$(comm -23 "$W/delivered" "$W/printed")" ]
	[ -z "$(uniq -d "$W/printed")" ]
	still_serves "after the thaw"
	d=$(wc -l <"$W/delivered")
	echo "# frozen after $d delivered; the other $((2000 - d)) stored" >&3
	figure "2000 messages: $d delivered before the freeze, $((2000 - d)) stored only; all reported truly; lost 0"
}
