#!/usr/bin/env bats
# The README's code runs as shown.
load helper

@test "README: the Python stream reader lists a stream as tsrinfo does (numpy dtypes)" {
	awk '/^```python$/{on=1; next} /^```$/{on=0} on' "$TESTS/../README.md" > "$BATS_TEST_TMPDIR/reader.py"
	[ -s "$BATS_TEST_TMPDIR/reader.py" ]
	cat "$TESTS"/data/man/tsrinfo/shards/train-0000.tsr "$TESTS"/data/man/tsrinfo/shards/train-0000.tsr > "$BATS_TEST_TMPDIR/all.tsr"
	run -0 "$PY" "$BATS_TEST_TMPDIR/reader.py" < "$BATS_TEST_TMPDIR/all.tsr"
	n=$(tsrinfo -c "$BATS_TEST_TMPDIR/all.tsr")
	[ "${#lines[@]}" -eq "$n" ]
	keys=$(tsrinfo -j "$BATS_TEST_TMPDIR/all.tsr" | "$PY" -c 'import json,sys; [print(json.loads(l)["key"]) for l in sys.stdin]')
	[ "$(printf '%s\n' "${lines[@]}" | cut -d' ' -f2)" = "$keys" ]
}

@test "README: the quick start is the two commands make deps demo and make test" {
	run -0 awk '/^## Quick start/{on=1} on && /^```sh$/{getline; print; getline; print; exit}' "$TESTS/../README.md"
	[[ "${lines[0]}" == "make deps demo "* ]]
	[[ "${lines[1]}" == "make test "* ]]
}
