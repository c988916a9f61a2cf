# cu2cpp.awk: a CUDA source file (common/*.cu) as C++ for g++ over emu.h.
#
#	awk -f cu2cpp.awk common/backend_cuda.cu > backend_cuda.cpp
#
# The kernels and their launches are the file's own, compiled unchanged but for
# what g++ cannot parse:
#	kernel<<<grid, block[, shared[, stream]]>>>(args)
#	    -> emu_launch(kernel, "kernel", grid, block[, ...])(args)
#	extern __shared__ T name[];  -> T *const name = (T *)emu_dynamic_shared;
#	#include <cuda_runtime.h> and the other CUDA headers -> emu.h, once, first
# and at the end a list of the file's __global__ functions, which the test
# compares with the kernels it launched. Lines keep their numbers (#line), so
# g++'s messages and the backend's __LINE__ point into the .cu file.
#
# Anything else it does not know stops it with a message rather than leaving
# code that compiles to less than the file holds: a launch it cannot rewrite, a
# __global__ without a name, a file with launches and no kernels.

function fail(msg) {
	printf "cu2cpp.awk: %s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	failed = 1
	exit 1
}

BEGIN {
	ident = "[A-Za-z_][A-Za-z_0-9]*"
	print "#include \"emu.h\""
}

FNR == 1 { printf "#line 1 \"%s\"\n", FILENAME }

# the CUDA headers: emu.h stands for them
/^[ \t]*#[ \t]*include[ \t]*<(cuda_runtime|cuda_runtime_api|cuda|cuda_bf16|cuda_fp16|cublasLt|cublas_v2)\.h>/ {
	print ""
	next
}

{
	line = $0

	# a kernel's name: the first identifier followed by "(" from the
	# __global__ on, which may be on a later line (the style puts the name
	# at the start of the line after the return type); attribute macros
	# such as __launch_bounds__(256) begin with two underscores
	rest = line
	if (match(rest, /__global__/)) {
		if (pending)
			fail("__global__ before the previous kernel's name")
		pending = 1
		rest = substr(rest, RSTART + RLENGTH)
	}
	while (pending && match(rest, "(" ident ")[ \t]*\\(")) {
		name = substr(rest, RSTART, RLENGTH)
		rest = substr(rest, RSTART + RLENGTH)
		sub(/[ \t]*\($/, "", name)
		if (substr(name, 1, 2) == "__")
			continue
		kernels[++nkernels] = name
		pending = 0
	}
	if (pending && line ~ /[;{]/)
		fail("a __global__ declaration whose name cannot be found")

	if (line ~ /extern[ \t]+__shared__/) {
		decl = line
		sub(/^.*extern[ \t]+__shared__[ \t]+/, "", decl)
		if (!match(decl, "(" ident ")[ \t]*\\[[ \t]*\\][ \t]*;"))
			fail("extern __shared__ not of the form 'T name[];'")
		type = substr(decl, 1, RSTART - 1)
		name = substr(decl, RSTART, RLENGTH)
		sub(/[ \t]*\[.*$/, "", name)
		sub(/[ \t]+$/, "", type)
		indent = line
		sub(/[^ \t].*$/, "", indent)
		line = indent type " *const " name " = (" type " *)emu_dynamic_shared;"
	}

	# launches: name (or name<args>) <<< ... >>> (
	out = ""
	while (match(line, "(" ident ")(<[^<>]*>)?[ \t]*<<<")) {
		name = substr(line, RSTART, RLENGTH)
		sub(/[ \t]*<<<$/, "", name)
		out = out substr(line, 1, RSTART - 1) "emu_launch(" name ", \"" name "\", "
		line = substr(line, RSTART + RLENGTH)
		nlaunch++
		open++
	}
	line = out line
	out = ""
	while (match(line, />>>[ \t]*\(/)) {
		out = out substr(line, 1, RSTART - 1) ")("
		line = substr(line, RSTART + RLENGTH)
		open--
	}
	line = out line
	if (line ~ /<<<|>>>/ || open < 0 || open > 1)
		fail("a kernel launch it cannot rewrite: " $0)
	print line
}

END {
	if (failed)
		exit 1
	if (open)
		fail("a launch whose >>>( never comes")
	if (pending)
		fail("__global__ without a name before the end")
	if (nlaunch && !nkernels)
		fail("launches, but no __global__ function found")
	printf "static emu_kernels_of emu_kernels_here(\"%s\", {", FILENAME
	for (i = 1; i <= nkernels; i++)
		printf "%s\"%s\"", (i > 1 ? ", " : ""), kernels[i]
	print "});"
}
