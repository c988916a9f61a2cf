#!/usr/bin/env bash
# Run here, before tests/gpu/run.sh goes to a GPU machine that may lack the build's
# C libraries (nothing can be downloaded there): fetches the Debian packages of
# jansson, libjpeg-turbo, libpng, libarchive, OpenBLAS (OpenMP) and OpenMPI with
# the libraries they need that a CUDA image may not have, unpacks them into one
# tree, drops what a build does not read (documentation, static libraries), and
# writes .gpu/deps.tar.xz, with .gpu/nccl/include/nccl.h for an NCCL without its
# header. run.sh unpacks the tree into a folder of its own (never into /) and
# builds with make DEPS=that folder. Carry .gpu with the run (the device tool's
# carry list); it is ignored by git.
# shellcheck disable=SC2015
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.gpu"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What the build links (Makefile's APT_PKGS) and their libraries that a CUDA
# image based on another Debian or Ubuntu may lack. Left out, as every such
# system has them: libc, libgcc, libstdc++, zlib, liblzma, libbz2, libzstd,
# liblz4, libacl, libudev, libatomic, libgomp (with gcc).
pkgs=(
	libjansson4 libjansson-dev
	libjpeg62-turbo libjpeg62-turbo-dev
	libpng16-16 libpng-dev zlib1g-dev
	libarchive13 libarchive-dev libxml2 libicu72 libnettle8
	libopenblas0-openmp libopenblas-openmp-dev libgfortran5
	libopenmpi3 libopenmpi-dev openmpi-bin openmpi-common
	libpmix2 libhwloc15 libhwloc-plugins libevent-core-2.1-7 libevent-pthreads-2.1-7
	libfabric1 libucx0 libibverbs1 ibverbs-providers librdmacm1 libnl-3-200
	libnl-route-3-200 libpsm-infinipath1 libpsm2-2 libmunge2 libnuma1
)
rm -rf "$out"
mkdir -p "$work/debs" "$work/tree"
(cd "$work/debs" && { apt-get download "${pkgs[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed'; } || true)
n=$(find "$work/debs" -name '*.deb' | wc -l)
[ "$n" = "${#pkgs[@]}" ] || { echo "pack: got $n of ${#pkgs[@]} packages" >&2; exit 1; }
for f in "$work/debs"/*.deb; do
	dpkg -x "$f" "$work/tree"
done
t="$work/tree"
rm -rf "$t/usr/share/doc" "$t/usr/share/man" "$t/usr/share/lintian" "$t/usr/share/locale" \
	"$t/usr/share/bug" "$t/usr/share/info"
find "$t" -name '*.a' -delete
# what no program of the build loads: LAPACK, ICU's i18n half (libxml2 takes
# libicuuc and its data)
rm -f "$t"/usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so* \
	"$t"/usr/lib/x86_64-linux-gnu/libicui18n.so* "$t"/usr/lib/x86_64-linux-gnu/libicuio.so* \
	"$t"/usr/lib/x86_64-linux-gnu/libicutest.so* "$t"/usr/lib/x86_64-linux-gnu/libicutu.so*
# the links that Debian's alternatives would make at install
lib="$t/usr/lib/x86_64-linux-gnu"
ln -sf openblas-openmp/libopenblas.so.0 "$lib/libopenblas.so.0"
ln -sf openmpi/lib/libmpi.so "$lib/libmpi.so"
ln -sf orterun "$t/usr/bin/mpirun"
mkdir -p "$out/nccl/include"
XZ_OPT=-6 tar -C "$t" -cJf "$out/deps.tar.xz" .
nccl=""
for d in "${CUDA_HOME:-/usr/local/cuda}/include" /usr/local/include /usr/include; do
	[ -f "$d/nccl.h" ] && { nccl="$d/nccl.h"; break; }
done
if [ -n "$nccl" ]; then
	cp "$nccl" "$out/nccl/include/nccl.h"
else
	echo "pack: no nccl.h here: the GPU machine's NCCL must bring its own" >&2
fi
echo "pack: ${#pkgs[@]} packages into $out: $(du -sh "$out" | cut -f1)"
du -ab "$out" | sort -n | tail -3
