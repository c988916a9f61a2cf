#!/bin/bash
# caption.sh: captions for a folder of photos, or for image files.
#
#   pipelines/caption.sh [--beam k] MODEL DIR|FILE ...
#
# prints 'file<TAB>caption' for each image: the files as given, and the JPEG and
# PNG files found in each folder (recursively, hidden files skipped), in name
# order. It is imgshard | vit-embed | capdecode, with the image size read from
# the model; the programs come from VITCAP_BIN, else bin/ beside this script,
# else the PATH.
set -euo pipefail

prog=caption.sh
usage() {
	echo "usage: $prog [--beam k] MODEL DIR|FILE ..."
}
die() {
	echo "$prog: $*" >&2
	exit 1
}

beam=1
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--beam) [ $# -ge 2 ] || { usage >&2; exit 2; }; beam=$2; shift 2 ;;
	--beam=*) beam=${1#--beam=}; shift ;;
	--) shift; break ;;
	-?*) echo "$prog: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { usage >&2; exit 2; }
model=$1
shift

bin=${VITCAP_BIN:-$(dirname "$(readlink -f "$0")")/../bin}
[ -x "$bin/imgshard" ] || bin=$(dirname "$(command -v imgshard || echo .)")
[ -x "$bin/imgshard" ] || die "imgshard not found: run make, or set VITCAP_BIN"

[ -e "$model" ] || die "$model: no such model"
[ -f "$model" ] && [ -r "$model" ] || die "$model: not a readable file"
size=$("$bin/tsrinfo" "$model" 2>/dev/null | grep -o '"image":[0-9]*' | head -n 1 | cut -d: -f2) || true
[ -n "$size" ] || die "$model: not a vitcap checkpoint (no image size in its config)"

# The images, one path a line: imgshard names each record by its file name
# alone, which is mapped back to the path below.
list=$(mktemp)
trap 'rm -f "$list"' EXIT
for p in "$@"; do
	if [ -d "$p" ]; then
		find "$p" \( -name '.*' -o -name __MACOSX \) ! -path "$p" -prune -o -type f \
			\( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) -print | LC_ALL=C sort
	elif [ -e "$p" ]; then
		printf '%s\n' "$p"
	else
		die "$p: no such file or folder"
	fi
done > "$list"
[ -s "$list" ] || die "no images (JPEG or PNG) in $*"

"$bin/imgshard" -s "$size" - < "$list" |
	"$bin/vit-embed" -m "$model" |
	"$bin/capdecode" -m "$model" --beam "$beam" |
	awk -F'\t' -v OFS='\t' 'FNR == NR { k = $0; sub(/.*\//, "", k); if (!(k in path)) path[k] = $0; next }
		{ if ($1 in path) $1 = path[$1]; print }' "$list" -
