#!/usr/bin/env bats
# The documentation stays true: man pages lint clean and complete, every
# flag a program prints in --help is in its page and its completion, the
# shell scripts pass shellcheck, and TAB completes what it should.

load helper

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	cd "$ROOT" || return 1
}

# render PAGE: the page as plain text, one paragraph a line where it can.
render() {
	mandoc -Tascii -O width=500 "$1" | sed 's/.\x08//g'
}

# long_opts: the distinct long options (--name) in its standard input.
long_opts() {
	grep -oE -- '--[a-z][a-z0-9-]*' | sed 's/-*$//' | sort -u
}

# has_opt OPT: standard input mentions the long option OPT as a word.
has_opt() {
	grep -qE -- "(^|[^a-z0-9-])$1([^a-z0-9-]|\$)"
}

# complete_words WORD...: runs the completion of chat.bash on the command
# line WORD... (the last word is the one being completed) and prints the
# candidates, one a line.
complete_words() {
	(
		# shellcheck source=/dev/null
		source "$ROOT/completions/chat.bash" || exit 1
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		_chat || exit 1
		if ((${#COMPREPLY[@]})); then printf '%s\n' "${COMPREPLY[@]}"; fi
	)
}

# programs: the built programs.
programs() {
	local p
	for p in bin/*; do
		[ -f "$p" ] && [ -x "$p" ] && printf '%s\n' "${p#bin/}"
	done
	return 0
}

@test "every man page is clean under mandoc -Tlint -Wwarning" {
	local pages=(man/*.[1-8])
	[ -e "${pages[0]}" ] || { echo "no man pages" >&2; return 1; }
	run mandoc -Tlint -Wwarning "${pages[@]}"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "the pages chat-dird.8 and chat-protocol.7 exist" {
	[ -f man/chat-dird.8 ]
	[ -f man/chat-protocol.7 ]
}

@test "every page has EXAMPLES; every command's page has EXIT STATUS" {
	local page bad=0
	for page in man/*.[1-8]; do
		if ! grep -q '^\.Sh EXAMPLES$' "$page"; then
			echo "$page: no EXAMPLES" >&2
			bad=1
		fi
		case $page in
		*.1 | *.8)
			if ! grep -q '^\.Sh EXIT STATUS$' "$page"; then
				echo "$page: no EXIT STATUS" >&2
				bad=1
			fi
			;;
		esac
	done
	[ "$bad" -eq 0 ]
}

@test "every section of chat-dird.8 is in the canonical order" {
	run grep '^\.Sh ' man/chat-dird.8
	[ "$status" -eq 0 ]
	want='.Sh NAME
.Sh SYNOPSIS
.Sh DESCRIPTION
.Sh ENVIRONMENT
.Sh FILES
.Sh EXIT STATUS
.Sh EXAMPLES
.Sh SEE ALSO'
	[ "$output" = "$want" ]
}

@test "chat-dird.8 lists each exit status and every flag of the contract" {
	local text code opt
	text=$(render man/chat-dird.8)
	for code in 0 64 65 69 70 74; do
		printf '%s\n' "$text" | sed -n '/^EXIT STATUS/,/^EXAMPLES/p' |
			grep -qE "^ +$code( |\$)" || { echo "no exit $code" >&2; return 1; }
	done
	for opt in --listen --db --sync --max-body --max-content --max-conns \
		--idle-timeout --presence --threads --quiet --help --version; do
		printf '%s\n' "$text" | has_opt "$opt" ||
			{ echo "no $opt" >&2; return 1; }
	done
	printf '%s\n' "$text" | grep -q CHAT_DB
}

@test "every program has a man page that documents its --help options" {
	local prog page help text opt bad=0
	[ -n "$(programs)" ] || skip "no programs built (run make)"
	for prog in $(programs); do
		page=$(ls "man/$prog".[18] 2>/dev/null | head -n 1)
		if [ -z "$page" ]; then
			echo "$prog: no man page man/$prog.1 or man/$prog.8" >&2
			bad=1
			continue
		fi
		if ! help=$("bin/$prog" --help 2>&1); then
			echo "$prog: --help fails" >&2
			bad=1
			continue
		fi
		text=$(render "$page")
		for opt in $(printf '%s\n' "$help" | long_opts); do
			if ! printf '%s\n' "$text" | has_opt "$opt"; then
				echo "$prog: $opt is in --help, not in $page" >&2
				bad=1
			fi
		done
		for opt in $(printf '%s\n' "$text" |
			sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | long_opts); do
			if ! printf '%s\n' "$help" | has_opt "$opt"; then
				echo "$prog: $opt is in the SYNOPSIS of $page, not in --help" >&2
				bad=1
			fi
		done
	done
	[ "$bad" -eq 0 ]
}

@test "the completion offers every --help option of every program" {
	local prog help offered opt bad=0
	[ -n "$(programs)" ] || skip "no programs built (run make)"
	for prog in $(programs); do
		help=$("bin/$prog" --help 2>&1) || { bad=1; continue; }
		offered=$(complete_words "$prog" --)
		for opt in $(printf '%s\n' "$help" | long_opts); do
			if ! printf '%s\n' "$offered" | grep -qxF -- "$opt"; then
				echo "$prog: completion does not offer $opt" >&2
				bad=1
			fi
		done
	done
	[ "$bad" -eq 0 ]
}

@test "shellcheck passes on the completion and the shell scripts" {
	local f files=()
	for f in contrib/* bench/* cmd/*.sh; do
		[ -f "$f" ] || continue
		head -n 1 "$f" |
			grep -qE '^#![[:space:]]*[^[:space:]]*/(env[[:space:]]+)?(ba|da)?sh([[:space:]]|$)' &&
			files+=("$f")
	done
	run shellcheck .ci/run .ci/deps tests/run tests/layers tests/mutate "${files[@]}"
	echo "$output"
	[ "$status" -eq 0 ]
	run shellcheck -s bash completions/chat.bash tests/helper.bash tests/api-helper.bash tests/netns.bash
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "lib/ keeps its layers: each folder includes only the ones below it" {
	run tests/layers
	echo "$output"
	[ "$status" -eq 0 ]
	# The check itself bites: a core header that reaches up is a breach.
	mkdir -p "$BATS_TEST_TMPDIR/lib/core"
	printf '#include "dir/store.h"\n' >"$BATS_TEST_TMPDIR/lib/core/x.h"
	run tests/layers "$BATS_TEST_TMPDIR/lib"
	[ "$status" -eq 1 ]
	[ "$output" = "$BATS_TEST_TMPDIR/lib/core/x.h: includes dir/store.h" ]
}

@test "no bats test asserts with a bare '!', which bats never fails on" {
	# Under bats, "! cmd" does not fail a test (set -e ignores it): such an
	# assertion cannot fail. "run ! cmd" is the form that does.
	run shellcheck -s bash --include=SC2314,SC2315 tests/*.bats
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "completion: chat-dird --sy completes to --sync" {
	run complete_words chat-dird --sy
	[ "$status" -eq 0 ]
	[ "$output" = "--sync" ]
}

@test "completion: chat-dird --sync offers normal and full" {
	run complete_words chat-dird --sync ''
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | sort | tr '\n' ' ')" = "full normal " ]
	run complete_words chat-dird --sync f
	[ "$output" = "full" ]
	# --sync=VALUE, which bash splits at the '='
	run complete_words chat-dird --sync = n
	[ "$output" = "normal" ]
}

@test "completion: chat-send --path offers the three ways" {
	run complete_words chat-send --path ''
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | sort | tr '\n' ' ')" = "direct punched relayed " ]
	run complete_words chat-send --path p
	[ "$output" = "punched" ]
}

@test "completion: chat offers its subcommands" {
	run complete_words chat ''
	[ "$status" -eq 0 ]
	local sub
	for sub in register login connect show end status logout exit help \
		send history peers friends listen; do
		printf '%s\n' "$output" | grep -qxF "$sub" ||
			{ echo "no $sub in: $output" >&2; return 1; }
	done
	run complete_words chat con
	[ "$output" = "connect" ]
}

@test "completion: user names come from the cache under CHAT_HOME" {
	export CHAT_HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$CHAT_HOME"
	printf '%s\n' alice bob bobby '$(touch pwned)' >"$CHAT_HOME/users"
	cd "$BATS_TEST_TMPDIR"
	run complete_words chat-send -u ''
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | sort | tr '\n' ' ')" = "alice bob bobby " ]
	run complete_words chat-send -u alice b
	[ "$(printf '%s\n' "$output" | sort | tr '\n' ' ')" = "bob bobby " ]
	run complete_words chat connect al
	[ "$output" = "alice" ]
	run complete_words chat-friends -u alice add ''
	[ "$(printf '%s\n' "$output" | sort | tr '\n' ' ')" = "alice bob bobby " ]
	# the cache is data, never code
	[ ! -e pwned ]
	# without the cache, no names and no error
	rm "$CHAT_HOME/users"
	run complete_words chat-send -u ''
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "completion: the default cache is under XDG_STATE_HOME" {
	unset CHAT_HOME
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	mkdir -p "$XDG_STATE_HOME/chat"
	echo carol >"$XDG_STATE_HOME/chat/users"
	run complete_words chat-history -u ''
	[ "$output" = "carol" ]
}

@test "completion: --db completes file names" {
	touch "$BATS_TEST_TMPDIR/dir.db"
	cd "$BATS_TEST_TMPDIR"
	run complete_words chat-dird --db di
	[ "$output" = "dir.db" ]
	run complete_words chat-dird -d di
	[ "$output" = "dir.db" ]
}

@test "completion is registered for chat and every chat-* program" {
	run bash -c 'source completions/chat.bash && complete -p'
	[ "$status" -eq 0 ]
	local prog progs=(chat)
	# every program of cmd/, so a new one cannot go without
	for prog in cmd/*/main.c; do
		prog=${prog#cmd/}
		progs+=("${prog%/main.c}")
	done
	[ "${#progs[@]}" -ge 9 ]
	for prog in "${progs[@]}"; do
		printf '%s\n' "$output" | grep -qE -- "-F _chat( .*)? $prog( |\$)" ||
			{ echo "$prog not registered" >&2; return 1; }
	done
}
