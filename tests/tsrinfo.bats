#!/usr/bin/env bats
# tsrinfo: the listing, -c and -j on a fixed stream, several files, stdin, errors.
load helper

setup_file() {
	"$PY" "$TESTS/ref/fixture_stream.py" mixed > "$BATS_FILE_TMPDIR/mixed.tsr"
	"$PY" "$TESTS/ref/fixture_stream.py" shard > "$BATS_FILE_TMPDIR/shard.tsr"
}

setup() {
	cd "$BATS_FILE_TMPDIR" || return 1
}

@test "tsrinfo: lists each record on one tab-separated line, escaping tabs and newlines" {
	run -0 tsrinfo mixed.tsr
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = "0	key=a.jpg	image U8[2,2,3]	tokens I32[2,4]	captions=[\"a cat\", \"one cat\"]" ]
	[ "${lines[1]}" = "1	embed F32[3,4]	none BF16[0,4]	encoder=5f3a09c1" ]
	[ "${lines[2]}" = "2	key=tab\\there	scalar F64[]	note=line 1\\nline 2 \\\\ café" ]
}

@test "tsrinfo: -j prints one JSON object per record" {
	run -0 tsrinfo -j mixed.tsr
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = '{"record":0,"key":"a.jpg","metadata":{"__key__":"a.jpg","captions":"[\"a cat\", \"one cat\"]"},"tensors":{"image":{"dtype":"U8","shape":[2,2,3]},"tokens":{"dtype":"I32","shape":[2,4]}}}' ]
	[ "${lines[1]}" = '{"record":1,"key":null,"metadata":{"encoder":"5f3a09c1"},"tensors":{"embed":{"dtype":"F32","shape":[3,4]},"none":{"dtype":"BF16","shape":[0,4]}}}' ]
	[ "${lines[2]}" = '{"record":2,"key":"tab\there","metadata":{"__key__":"tab\there","note":"line 1\nline 2 \\ café"},"tensors":{"scalar":{"dtype":"F64","shape":[]}}}' ]
	run -0 tsrinfo --json mixed.tsr
	[ "${#lines[@]}" -eq 3 ]
}

@test "tsrinfo: -j output is JSON that Python reads back" {
	run -0 "$PY" -c '
import json, subprocess, sys
out = subprocess.run(["tsrinfo", "-j", "mixed.tsr"], capture_output=True, check=True).stdout
recs = [json.loads(l) for l in out.decode().splitlines()]
assert [r["key"] for r in recs] == ["a.jpg", None, "tab\there"], recs
assert json.loads(recs[0]["metadata"]["captions"]) == ["a cat", "one cat"]
assert recs[2]["metadata"]["note"] == "line 1\nline 2 \\ caf\u00e9"
'
}

@test "tsrinfo: -c counts records in all inputs together" {
	run -0 tsrinfo -c mixed.tsr
	[ "$output" = 3 ]
	run -0 tsrinfo --count mixed.tsr shard.tsr mixed.tsr
	[ "$output" = 8 ]
	run -0 tsrinfo -c /dev/null
	[ "$output" = 0 ]
	run -0 tsrinfo -jc mixed.tsr
	[ "$output" = 3 ]
}

@test "tsrinfo: reads stdin with no file or with -" {
	run -0 tsrinfo < shard.tsr
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[1]}" = "1	key=b.jpg	image U8[16,16,3]	captions=[\"two blue squares\"]" ]
	run -0 tsrinfo - < shard.tsr
	[ "${#lines[@]}" -eq 2 ]
	run -0 tsrinfo -c < <(cat shard.tsr mixed.tsr)
	[ "$output" = 5 ]
}

@test "tsrinfo: with several files each line starts with its file, and numbering restarts" {
	run -0 tsrinfo shard.tsr - < mixed.tsr
	[ "${#lines[@]}" -eq 5 ]
	[ "${lines[0]}" = "shard.tsr	0	key=a.jpg	image U8[16,16,3]	captions=[\"a red circle\"]" ]
	[ "${lines[2]}" = "stdin	0	key=a.jpg	image U8[2,2,3]	tokens I32[2,4]	captions=[\"a cat\", \"one cat\"]" ]
	run -0 tsrinfo -j shard.tsr shard.tsr
	[[ "${lines[3]}" == '{"file":"shard.tsr","record":1,"key":"b.jpg",'* ]]
}

@test "tsrinfo: an empty stream lists nothing" {
	run -0 tsrinfo /dev/null
	[ "$output" = "" ]
}

@test "tsrinfo: the EXAMPLES fixtures are the streams fixture_stream.py writes" {
	d="$TESTS/data/man/tsrinfo/shards"
	cmp shard.tsr "$d/val-0000.tsr"
	cmp shard.tsr "$d/train-0000.tsr"
	cmp mixed.tsr "$d/train-0001.tsr"
}

@test "tsrinfo: a cut stream: the records before the cut, then the error (exit 1)" {
	run --separate-stderr -1 tsrinfo < <(head -c 1500 shard.tsr)
	[ "$output" = "0	key=a.jpg	image U8[16,16,3]	captions=[\"a red circle\"]" ]
	[ "$stderr" = "tsrinfo: stdin:record 1: byte 1500: truncated: data needs 768 bytes, stream ended after 444" ]
}

@test "tsrinfo: stops at the first bad file; earlier files are listed" {
	head -c 100 mixed.tsr > cut.tsr
	run --separate-stderr -1 tsrinfo shard.tsr cut.tsr mixed.tsr
	[ "${#lines[@]}" -eq 2 ]
	[ "$stderr" = "tsrinfo: cut.tsr:record 0: byte 100: truncated: header needs 200 bytes, stream ended after 92" ]
	run --separate-stderr -1 tsrinfo -c shard.tsr cut.tsr
	[ "$output" = "" ]
}

@test "tsrinfo: a missing file is exit 1 with one line" {
	run -1 tsrinfo no-such.tsr
	[ "$output" = "tsrinfo: open no-such.tsr: No such file or directory" ]
}

@test "tsrinfo: unknown options are usage errors (exit 2)" {
	run -2 tsrinfo -x mixed.tsr
	[ "${lines[0]}" = "tsrinfo: unknown option -x" ]
	[ "${lines[1]}" = "usage: tsrinfo [-cj] [file ...]" ]
	run -2 tsrinfo --bogus
	[ "${lines[0]}" = "tsrinfo: unknown option --bogus" ]
	run -2 tsrinfo --count=3
	[[ "${lines[1]}" == "usage: tsrinfo"* ]]
}

@test "tsrinfo: --help prints the usage to stdout" {
	run --separate-stderr -0 tsrinfo --help
	[ "$output" = "usage: tsrinfo [-cj] [file ...]" ]
	[ "$stderr" = "" ]
}

@test "tsrinfo: a failed write to stdout is exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	run -1 bash -c 'tsrinfo mixed.tsr > /dev/full'
	[ "$output" = "tsrinfo: write stdout: No space left on device" ]
}
