#!/usr/bin/env bats
# The record stream reader (common/stream.c) through tsrinfo: every malformed record
# of tests/ref/make_bad_records.py gets its one-line message and exit 1, every cut of
# a valid stream is caught, and our streams and the safetensors library's agree.
load helper

setup_file() {
	"$PY" "$TESTS/ref/make_bad_records.py" "$BATS_FILE_TMPDIR/bad"
	"$VITCAP_UNIT/test_stream" write numpy "$BATS_FILE_TMPDIR/c-numpy.tsr"
	"$VITCAP_UNIT/test_stream" write all "$BATS_FILE_TMPDIR/c-all.tsr"
	"$PY" "$TESTS/ref/fixture_stream.py" mixed > "$BATS_FILE_TMPDIR/mixed.tsr"
}

bad() { printf '%s/bad/%s.tsr' "$BATS_FILE_TMPDIR" "$1"; }

@test "stream: every malformed record: exit 1 and exactly its one-line message" {
	n=0 failed=0
	for want in "$BATS_FILE_TMPDIR"/bad/*.want; do
		f=${want%.want}.tsr
		run --separate-stderr tsrinfo "$f"
		expected="tsrinfo: $f:$(cat "$want")"
		if [ "$status" -ne 1 ] || [ "$stderr" != "$expected" ]; then
			printf '%s: exit %s\n  want: %s\n  got:  %s\n' "$(basename "$f")" \
			    "$status" "$expected" "$stderr"
			failed=$((failed + 1))
		fi
		n=$((n + 1))
	done
	echo "$n cases, $failed failed"
	[ "$n" -ge 50 ] && [ "$failed" -eq 0 ]
}

@test "stream: the safetensors library rejects the same records, but for the stricter rules" {
	run -0 "$PY" "$TESTS/ref/make_bad_records.py" --safetensors
}

@test "stream: truncation in the length names the record start, on stdin" {
	run -1 tsrinfo < "$(bad trunc-length-7)"
	[ "$output" = "tsrinfo: stdin:record 0: byte 7: truncated: record length needs 8 bytes, stream ended after 7" ]
}

@test "stream: a header length of 2^64-1 is refused before anything is allocated" {
	run -1 tsrinfo "$(bad header-length-max)"
	[ "$output" = "tsrinfo: $(bad header-length-max):record 0: byte 0: header length 18446744073709551615 exceeds the 104857600-byte limit" ]
}

@test "stream: a lying shape names the tensor, its shape and both sizes" {
	run -1 tsrinfo "$(bad shape-lies-short)"
	[ "$output" = "tsrinfo: $(bad shape-lies-short):record 0: byte 8: tensor \"a\": shape [2,3] U8 needs 6 bytes but data_offsets span 5" ]
}

@test "stream: a header claiming a petabyte fails at the end of a pipe" {
	run -1 tsrinfo < <(cat "$(bad lying-size-petabyte)")
	[ "$output" = "tsrinfo: stdin:record 0: byte 95: truncated: data needs 1000000000000000 bytes, stream ended after 4" ]
}

@test "stream: records before a bad one are listed, then the error names record 1" {
	run --separate-stderr -1 tsrinfo "$(bad second-record-overlap)"
	[ "$output" = "0	a U8[4]" ]
	[ "$stderr" = "tsrinfo: $(bad second-record-overlap):record 1: byte 73: tensor \"b\": data_offsets [2,6] overlap tensor \"a\" [0,4]" ]
}

@test "stream: every cut of a valid stream is an error unless it falls between records" {
	f="$BATS_FILE_TMPDIR/mixed.tsr"
	size=$(wc -c < "$f")
	# the record boundaries, found without our reader
	bounds=" 0 $size "
	off=0
	while [ "$off" -lt "$size" ]; do
		n=$(od -An -t u8 -j "$off" -N 8 "$f" | tr -d ' ')
		data=$(tail -c +$((off + 9)) "$f" | head -c "$n" |
		    "$PY" -c 'import json,sys; h=json.load(sys.stdin); print(max([v["data_offsets"][1] for k,v in h.items() if k!="__metadata__"] or [0]))')
		off=$((off + 8 + n + data))
		bounds="$bounds$off "
	done
	[ "$off" -eq "$size" ]
	failed=0
	for ((cut = 0; cut < size; cut++)); do
		run --separate-stderr tsrinfo < <(head -c "$cut" "$f")
		if [[ "$bounds" == *" $cut "* ]]; then
			[ "$status" -eq 0 ] || { echo "cut $cut: $stderr"; failed=1; }
		elif [ "$status" -ne 1 ] || [[ "$stderr" != "tsrinfo: stdin:record "*": byte $cut: truncated: "* ]]; then
			echo "cut $cut: exit $status: $stderr"; failed=1
		fi
	done
	[ "$failed" -eq 0 ]
}

@test "stream: many records and a tensor bigger than a read chunk go through a pipe" {
	"$PY" - > "$BATS_TEST_TMPDIR/many.tsr" <<-'EOF'
	import numpy as np, sys
	from safetensors.numpy import save
	for i in range(3000):
	    sys.stdout.buffer.write(save({"x": np.full((i % 7, 3), i, np.int32)}, {"__key__": str(i)}))
	sys.stdout.buffer.write(save({"big": np.zeros((5, 1 << 20), np.uint8)}))
	EOF
	run -0 tsrinfo -c < <(cat "$BATS_TEST_TMPDIR/many.tsr")
	[ "$output" = 3001 ]
	run -0 tsrinfo < <(cat "$BATS_TEST_TMPDIR/many.tsr")
	[ "${lines[2999]}" = "2999	key=2999	x I32[3,3]" ]
	[ "${lines[3000]}" = "3000	big U8[5,1048576]" ]
}

@test "stream: our writer's records, cut by the tsr(5) reader, load in safetensors.numpy" {
	run -0 "$PY" "$TESTS/ref/stream_check.py" check-c "$TESTS/../man/man5/tsr.5" numpy \
	    "$BATS_FILE_TMPDIR/c-numpy.tsr"
}

@test "stream: our writer's records of every dtype (BF16, F8) load in safetensors" {
	run -0 "$PY" "$TESTS/ref/stream_check.py" check-c "$TESTS/../man/man5/tsr.5" all \
	    "$BATS_FILE_TMPDIR/c-all.tsr"
}

@test "stream: the tsr(5) reader runs as printed, on a stdin stream" {
	"$PY" "$TESTS/ref/stream_check.py" reader "$TESTS/../man/man5/tsr.5" > "$BATS_TEST_TMPDIR/reader.py"
	run -0 "$PY" "$BATS_TEST_TMPDIR/reader.py" < "$BATS_FILE_TMPDIR/c-numpy.tsr"
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == "0 img 0.jpg {"*"'t_F32': (2, 3, 4)"* ]]
	[ "${lines[1]}" = "1 None {}" ]
}

@test "stream: records written by safetensors (numpy, torch BF16) read with the right dtypes, shapes, metadata" {
	f="$BATS_TEST_TMPDIR/py.tsr"
	"$PY" "$TESTS/ref/stream_check.py" py-stream "$f"
	run -0 tsrinfo -j "$f"
	expect_output "$f.json"
}

@test "stream: records written by safetensors read back to the same bytes, aligned" {
	f="$BATS_TEST_TMPDIR/py.tsr"
	"$PY" "$TESTS/ref/stream_check.py" py-stream "$f"
	run -0 "$VITCAP_UNIT/test_stream" dump "$f"
	expect_output "$f.dump"
}

@test "stream: the smallest record of tsr(5) EXAMPLES" {
	run -0 tsrinfo < <(printf '\010\0\0\0\0\0\0\0{}      ')
	[ "$output" = 0 ]
}
