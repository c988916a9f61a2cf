#!/usr/bin/env bats
# The programs of a pipeline share one stderr: each message must arrive as one
# whole line, not in pieces that interleave with a neighbour's.
load helper

@test "stderr: forty vit-embed and capdecode errors at once into one pipe stay whole lines" {
	long=/nonexistent/$(printf 'd%.0s' $(seq 300))
	for i in $(seq 40); do
		vit-embed -m "$long$i" < /dev/null &
		capdecode -m "$long$i" < /dev/null &
	done 2>&1 | cat > "$BATS_TEST_TMPDIR/err"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/err")" = 80 ]
	run grep -cvE '^(vit-embed|capdecode): /nonexistent/d+[0-9]+: No such file or directory$' "$BATS_TEST_TMPDIR/err"
	[ "$output" = 0 ]
}
