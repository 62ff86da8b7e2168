#!/usr/bin/env bats
# The list of the mutation check keeps up with the code: every mutant of
# tests/mutants matches its file exactly once, so that make check fails
# as soon as code moves under one; a broken list is refused. (make mutate
# runs the mutants themselves; tests/README.)
# shellcheck disable=SC2154 # bats sets $stderr

load helper
bats_require_minimum_version 1.5.0

@test "every mutant of tests/mutants matches its file exactly once" {
	run tests/mutate -n
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" mutants, 0 not matching exactly once" ]]
	# and there are enough of them
	[ "$(tests/mutate -l | wc -l)" -ge 40 ]
}

@test "a mutant whose code moved, or is there twice, fails the check by name" {
	printf '%s\n' 'id: gone' 'file: lib/core/valid.c' 'match: no such code' \
		'replace: x' 'test: test-valid' 'why: moved' '' \
		'id: twice' 'file: lib/peer/wire.c' 'match: return -1;' \
		'replace: return 0;' 'test: test-wire' 'why: everywhere' \
		>"$BATS_TEST_TMPDIR/list"
	run env MUTANTS="$BATS_TEST_TMPDIR/list" tests/mutate -n
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"gone: lib/core/valid.c: no match"* ]]
	[[ "$output" == *"twice: lib/peer/wire.c: 2+ matches"* ]]
}

@test "a record without its tests or its reason, an unknown key, a test it cannot run: exit 65" {
	printf '%s\n' 'id: bare' 'file: lib/core/valid.c' 'match: x' 'replace: y' \
		>"$BATS_TEST_TMPDIR/list"
	run --separate-stderr env MUTANTS="$BATS_TEST_TMPDIR/list" tests/mutate -n
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"bare: no test why" ]]
	printf '%s\n' 'id: odd' 'flie: lib/core/valid.c' >"$BATS_TEST_TMPDIR/list"
	run --separate-stderr env MUTANTS="$BATS_TEST_TMPDIR/list" tests/mutate -n
	[ "$status" -eq 65 ]
	[[ "$stderr" == *":2: unknown key: flie" ]]
	# a test it cannot run would "kill" every mutant
	printf '%s\n' 'id: vague' 'file: lib/core/valid.c' 'match: x' 'replace: y' \
		'test: 420-delivery.bats dropped' 'why: w' >"$BATS_TEST_TMPDIR/list"
	run --separate-stderr env MUTANTS="$BATS_TEST_TMPDIR/list" tests/mutate -n
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"vague: 420-delivery.bats dropped: not [pg:]test-NAME"* ]]
}
