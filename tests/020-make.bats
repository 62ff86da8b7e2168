#!/usr/bin/env bats
# The README's promises about the make targets, checked without network:
# run and check install what is missing first, install puts every program,
# man page and completion in place, `make run` really starts the daemon,
# and the README's quick start and layout table are true.

load helper

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	cd "$ROOT" || return 1
	# Under `make check` the outer make's flags would leak into ours.
	unset MAKEFLAGS MFLAGS MAKELEVEL
	RUN_PGID=
}

teardown() {
	stop_make_run
	stop_dird
}

# start_make_run: runs `make run` on an ephemeral port in its own process
# group, waits for the daemon's listening line and sets RUN_PGID, RUN_PORT.
start_make_run() {
	RUN_OUT=$BATS_TEST_TMPDIR/run.out
	RUN_ERR=$BATS_TEST_TMPDIR/run.err
	setsid make --no-print-directory run \
		RUNFLAGS="-l 127.0.0.1:0 -d $BATS_TEST_TMPDIR/r.db" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null &
	RUN_PGID=$!
	RUN_PORT=
	for _ in $(seq 1 600); do
		RUN_PORT=$(jq -R 'fromjson? | select(.type == "listening") | .port' \
			"$RUN_OUT" | head -n 1)
		[ -n "$RUN_PORT" ] && return 0
		kill -0 "$RUN_PGID" 2>/dev/null || break
		sleep 0.1
	done
	echo "make run printed no listening line:" >&2
	cat "$RUN_OUT" "$RUN_ERR" >&2
	return 1
}

# stop_make_run: SIGTERM to make and the daemon it started, then waits at
# most 10 s before SIGKILL. Safe to call twice.
stop_make_run() {
	[ -n "${RUN_PGID:-}" ] || return 0
	kill -TERM -- "-$RUN_PGID" 2>/dev/null || true
	for _ in $(seq 1 100); do
		pgrep -g "$RUN_PGID" >/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$RUN_PGID" 2>/dev/null || true
	wait "$RUN_PGID" 2>/dev/null || true
	RUN_PGID=
}

@test "make -n run installs what is missing, builds, then runs chat-dird" {
	run make -n run
	[ "$status" -eq 0 ]
	deps=$(grep -n -m 1 -F './.ci/deps' <<<"$output" | cut -d: -f1)
	daemon=$(grep -n -m 1 -E '(^|[ /])bin/chat-dird( |$)' <<<"$output" | cut -d: -f1)
	[ -n "$deps" ] && [ -n "$daemon" ] && [ "$deps" -lt "$daemon" ]
}

@test "make -n check installs what is missing, then runs tests/run" {
	run make -n check
	[ "$status" -eq 0 ]
	deps=$(grep -n -m 1 -F './.ci/deps' <<<"$output" | cut -d: -f1)
	tests=$(grep -n -m 1 -E '(^|[ /])tests/run( |$)' <<<"$output" | cut -d: -f1)
	[ -n "$deps" ] && [ -n "$tests" ] && [ "$deps" -lt "$tests" ]
}

@test ".ci/deps is quick and quiet when nothing is missing" {
	# apt-get and sudo that leave a mark prove nothing gets installed.
	mkdir "$BATS_TEST_TMPDIR/fake"
	for p in apt-get sudo; do
		printf '#!/bin/sh\ntouch "%s/called"\nexit 1\n' \
			"$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/fake/$p"
		chmod +x "$BATS_TEST_TMPDIR/fake/$p"
	done
	start=$SECONDS
	run env CHAT_DEPS= PATH="$BATS_TEST_TMPDIR/fake:$PATH" \
		timeout 30 ./.ci/deps
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ ! -e "$BATS_TEST_TMPDIR/called" ]
	[ $((SECONDS - start)) -le 10 ]
}

@test "make install puts programs, man pages and completions under DESTDIR" {
	root=$BATS_TEST_TMPDIR/root
	run make -s install DESTDIR="$root" PREFIX=/usr
	[ "$status" -eq 0 ]
	[ -x "$root/usr/bin/chat-dird" ]
	"$root/usr/bin/chat-dird" --version
	for p in bin/*; do
		[ -x "$root/usr/bin/${p#bin/}" ] || { echo "not installed: $p" >&2; false; }
	done
	n=0
	for m in man/*.[178]; do
		[ -e "$m" ] || continue
		sec=${m##*.}
		[ -f "$root/usr/share/man/man$sec/${m#man/}" ] ||
			{ echo "not installed: $m" >&2; false; }
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
	comp=$root/usr/share/bash-completion/completions
	[ -f "$comp/chat" ]
	for p in bin/*; do
		[ "${p#bin/}" = chat ] || [ -e "$comp/${p#bin/}" ] ||
			{ echo "no completion for $p" >&2; false; }
	done
}

@test "make run starts chat-dird; SIGTERM stops it" {
	start_make_run
	run curl -sS --max-time 5 "http://127.0.0.1:$RUN_PORT/healthz"
	[ "$status" -eq 0 ]
	jq -e '.status == "ok"' <<<"$output"
	[ -f "$BATS_TEST_TMPDIR/r.db" ]
	stop_make_run
	run curl -sS --max-time 2 "http://127.0.0.1:$RUN_PORT/healthz"
	[ "$status" -ne 0 ]
}

@test "the README's curl quick start prints alice: hi bob" {
	start_dird
	# The indented lines of the quick-start section, aimed at our daemon.
	script=$(awk '/^## Quick start/ { on = 1; next }
		/^## / { on = 0 }
		on && /^    / { sub(/^    /, ""); print }' README.md |
		sed "s|127\.0\.0\.1:8000|127.0.0.1:$DIRD_PORT|g")
	grep -q 'message/get' <<<"$script"
	run timeout 30 bash -c "set -e -o pipefail; $script"
	[ "$status" -eq 0 ]
	[ "${lines[${#lines[@]} - 1]}" = "alice: hi bob" ]
}

@test "every path in the README's layout table exists" {
	# shellcheck disable=SC2016 # the backquotes are literal
	paths=$(grep -o '^| `[^`]*`' README.md | sed 's/^| `//; s/`$//')
	[ -n "$paths" ]
	for p in $paths; do
		[ -e "$p" ] || { echo "README names $p, which does not exist" >&2; false; }
	done
}

@test "tests/docker-test is shellcheck clean" {
	run shellcheck tests/docker-test
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "contrib/chat-dird.service passes systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	[ -x bin/chat-dird ]
	# The unit names the installed path; point it at this tree's build.
	sed "s|/usr/local/bin/chat-dird|$ROOT/bin/chat-dird|" \
		contrib/chat-dird.service >"$BATS_TEST_TMPDIR/chat-dird.service"
	run systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/chat-dird.service"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
