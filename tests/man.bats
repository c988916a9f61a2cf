#!/usr/bin/env bats
# Every program has a man page that lints clean, and --help prints its SYNOPSIS.
load helper

synopsis() {
	# The SYNOPSIS section as mandoc renders it, one space between words.
	MANWIDTH=200 mandoc -T ascii -O width=200 "$1" | col -bx |
		awk '/^SYNOPSIS/{on=1; next} /^[A-Z]/{on=0} on' | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

@test "man: every tool has a man page and it lints clean" {
	for src in "$TESTS"/../tools/*.c; do
		name=$(basename "$src" .c)
		page="$TESTS/../man/man1/$name.1"
		[ -f "$page" ] || { echo "no man page for $name"; return 1; }
		run mandoc -T lint -W warning "$page"
		[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	done
	for page in "$TESTS"/../man/man5/*.5; do
		run mandoc -T lint -W warning "$page"
		[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	done
}

@test "man: --help prints the man page SYNOPSIS and exits 0" {
	for src in "$TESTS"/../tools/*.c; do
		name=$(basename "$src" .c)
		run -0 "$name" --help
		got=$(printf '%s\n' "$output" | sed '1s/^usage: //' | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
		want=$(synopsis "$TESTS/../man/man1/$name.1")
		[ "$got" = "$want" ] || { printf '%s --help:\n  %s\nman page:\n  %s\n' "$name" "$got" "$want"; return 1; }
	done
}

@test "man: an unknown option is a usage error (exit 2) that prints the synopsis" {
	for src in "$TESTS"/../tools/*.c; do
		name=$(basename "$src" .c)
		run -2 "$name" --no-such-option
		[[ "$output" == *"usage: $name"* ]] || { echo "$name: $output"; return 1; }
	done
}

# The EXAMPLES of every page are tests: in each literal block, a line "$ command" is
# run in tests/data/man/NAME/ and the literal lines after it, up to the next "$ " or
# the end of the block, are its expected output (compared with runs of blanks
# squeezed, since roff renders tabs as spaces). Blocks without "$ " are prose.
@test "man: the EXAMPLES in the man pages run and print what they show" {
	for page in "$TESTS"/../man/man1/*.1; do
		name=$(basename "$page" .1)
		dir="$TESTS/data/man/$name"
		mandoc -T ascii -O width=400 "$page" | col -b |
			awk '/^EXAMPLES/{on=1; next} /^[A-Z]/{on=0} on' > "$BATS_TEST_TMPDIR/ex"
		grep -q '^	 *\$ ' "$BATS_TEST_TMPDIR/ex" || continue
		[ -d "$dir" ] || { echo "$name: examples need fixtures in $dir"; return 1; }
		# split into cmd/expected pairs: c.N holds the command, e.N its output
		awk -v d="$BATS_TEST_TMPDIR" '
			/^\t/ { sub(/^\t */, "")
				if ($0 ~ /^\$ /) { k++; cur = k; print substr($0, 3) > (d "/c." k); printf "" > (d "/e." k); next }
				if (cur) print > (d "/e." cur); next }
			{ if (cur) close(d "/e." cur); cur = 0 }' "$BATS_TEST_TMPDIR/ex"
		ncmd=$(ls "$BATS_TEST_TMPDIR"/c.* | wc -l)
		for i in $(seq 1 "$ncmd"); do   # in order: a command may use an earlier one's files
			c="$BATS_TEST_TMPDIR/c.$i"
			got=$(cd "$dir" && bash -c "$(cat "$c")" 2>&1 | tr -s ' \t' ' ')
			want=$(tr -s ' \t' ' ' < "$BATS_TEST_TMPDIR/e.$i")
			[ "$got" = "$want" ] || { printf '%s: $ %s\nwant:\n%s\ngot:\n%s\n' "$name" "$(cat "$c")" "$want" "$got"; return 1; }
		done
		rm -f "$BATS_TEST_TMPDIR"/[ce].*
	done
}
