#!/usr/bin/env bats
# Every program has a man page that lints clean, and --help prints its SYNOPSIS.
load helper

synopsis() {
	# The SYNOPSIS section as mandoc renders it, one space between words.
	MANWIDTH=200 mandoc -T ascii -O width=200 "$1" | col -b |
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
