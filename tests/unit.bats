#!/usr/bin/env bats
# C unit tests (tests/unit/test_*.c): each binary exits non-zero on the first mismatch.
load helper

@test "unit: every C unit test binary passes" {
	n=0
	for t in "$VITCAP_UNIT"/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *.o|*.d) continue ;; esac
		run "$t"
		[ "$status" -eq 0 ] || { echo "$t failed:"; echo "$output"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}
