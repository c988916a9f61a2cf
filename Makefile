# vitcap: image captioning as small C programs that compose with pipes.
#
#   make              build every program into bin/
#   make deps         install what is missing (Debian packages, the Python reference venv)
#   make test         bats tests of every program + C unit tests + reference tests
#   make test SAN=1   the same against an AddressSanitizer+UBSan build (in build/san/bin)
#   make CUDA=1       the programs with the CUDA backend too (--device cuda), into bin/ like
#                     the plain build: objects in build/cuda, and bin/ relinked whenever the
#                     last build there was the other kind, so any order of make and make
#                     CUDA=1 leaves bin/ as the last command asked. BIN=dir puts the
#                     programs elsewhere (CI: BIN=build/cuda/bin). The kernel lab, which
#                     checks every CUDA kernel against the CPU, is build/cuda/gpu/test_kernels.
#   make bench        speed side by side with the tools people use instead
#   make fuzz         run the libFuzzer target of the stream reader (FUZZ_SECONDS=180)
#   make demo         the whole pipeline on a small example
#   make install PREFIX=/usr/local

SHELL := /bin/bash
PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
PY := $(CURDIR)/.venv/bin/python

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# CI builds with warnings as errors; a user's newer compiler should not break the build.
ifneq ($(CI),)
WARN += -Werror
endif

# DEPS: a folder the build's Debian packages were unpacked into, for a machine
# that lacks them (tests/gpu/pack.sh); empty, the system's. The rpath below
# finds libmpi, but libmpi's own RUNPATH hides it from libmpi's dependencies:
# run such programs with LD_LIBRARY_PATH=$(DEPS)/usr/lib/x86_64-linux-gnu (as
# tests/gpu/run.sh does).
DEPS ?=
# OpenBLAS: the OpenMP build, pinned by rpath so that Debian's alternatives cannot
# swap in the pthreads build (its threads and OpenMP's fight over the cores).
BLAS_DIR := $(DEPS)/usr/lib/x86_64-linux-gnu/openblas-openmp
ifeq ($(DEPS),)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS := $(shell pkg-config --libs ompi-c 2>/dev/null)
else
DEPS_LIB := $(DEPS)/usr/lib/x86_64-linux-gnu
CPPFLAGS += -isystem $(DEPS)/usr/include
LDFLAGS += -L$(DEPS_LIB) -Wl,--disable-new-dtags -Wl,-rpath,$(DEPS_LIB) -Wl,-rpath-link,$(DEPS_LIB)
MPI_CFLAGS := -isystem $(DEPS_LIB)/openmpi/include
MPI_LIBS := -L$(DEPS_LIB)/openmpi/lib -Wl,-rpath,$(DEPS_LIB)/openmpi/lib -lmpi
endif

CPPFLAGS += -D_GNU_SOURCE -Icommon -I$(DEPS)/usr/include/x86_64-linux-gnu/openblas-openmp $(MPI_CFLAGS) -MMD -MP
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -fopenmp $(WARN)
LDFLAGS += -fopenmp
LDLIBS := -Wl,--as-needed -ljansson -ljpeg -lpng -larchive \
	-L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas $(MPI_LIBS) -lpthread -lm

# The CUDA backend: nvcc for common/*.cu, sm_80 (A100) and sm_90 (H100) code.
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(CUDA_HOME)/bin/nvcc
# --threads 0: the two architectures compile side by side (the one .cu file is
# most of a CUDA build's time, which a GPU machine's lease pays for).
NVFLAGS := -O3 -g -std=c++20 --threads 0 -gencode arch=compute_80,code=sm_80 \
	-gencode arch=compute_90,code=sm_90 -Icommon -MMD -MP \
	-Xcompiler -Wall,-Wextra,-Wshadow
ifneq ($(CI),)
NVFLAGS += -Werror all-warnings -Xcompiler -Werror
endif
# what the CUDA programs link besides the C libraries (and NCCL, below)
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart \
	-lstdc++

ifeq ($(CUDA),1)
ifeq ($(SAN),1)
$(error SAN=1 and CUDA=1 do not go together: the sanitizers do not see into the GPU)
endif
BUILD := build/cuda
BIN := bin
CPPFLAGS += -DVITCAP_CUDA
LDLIBS += $(CUDA_LIBS)
else ifeq ($(SAN),1)
BUILD := build/san
BIN := build/san/bin
CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
BUILD := build/rel
BIN := bin
endif

# NCCL sums the GPUs' gradients (dist_nccl.c) in a CUDA build; without CUDA,
# dist_nccl_none.c stands in and neither NCCL nor CUDA is linked.
NCCL_HOME ?= $(CUDA_HOME)
NCCL_INC ?= $(NCCL_HOME)/include
ifeq ($(CUDA),1)
NCCL_SKIP := common/dist_nccl_none.c
NCCL_LIB := $(firstword $(wildcard $(addprefix $(NCCL_HOME)/,lib/libnccl.so.2 lib64/libnccl.so.2 \
	lib/x86_64-linux-gnu/libnccl.so.2)))
$(if $(NCCL_LIB),,$(error no libnccl.so.2 in $(NCCL_HOME)/lib or lib64: set NCCL_HOME))
%/common/dist_nccl.o: CPPFLAGS += -isystem $(CUDA_HOME)/include -isystem $(NCCL_INC)
LDLIBS += -L$(dir $(NCCL_LIB)) -Wl,-rpath,$(dir $(NCCL_LIB)) -l:libnccl.so.2
else
NCCL_SKIP := common/dist_nccl.c
endif

# AdamW's square roots never see a negative, so never set errno: without the
# errno path its loop vectorises (the same bits; sqrt is exact either way).
%/common/adamw.o: CFLAGS += -fno-math-errno

TOOLS := $(basename $(notdir $(wildcard tools/*.c)))
COMMON_OBJ := $(patsubst common/%.c,$(BUILD)/common/%.o,$(filter-out $(NCCL_SKIP),$(wildcard common/*.c)))
UNIT := $(basename $(notdir $(wildcard tests/unit/test_*.c)))
PROGS := $(addprefix $(BIN)/,$(TOOLS))
UNIT_BINS := $(addprefix $(BUILD)/tests/,$(UNIT))
# the GPU checks (tests/gpu/*.c, make gpu-checks); a CUDA build's all makes
# the kernel lab among them
GPU_CHECKS := $(patsubst tests/gpu/%.c,$(BUILD)/gpu/%,$(wildcard tests/gpu/*.c))
ifeq ($(CUDA),1)
CUDA_OBJ := $(patsubst common/%.cu,$(BUILD)/common/%.o,$(wildcard common/*.cu))
GPU_TESTS := $(BUILD)/gpu/test_kernels
endif

all: $(PROGS) $(GPU_TESTS)

$(BUILD)/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/common/%.o: common/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVFLAGS) -c -o $@ $<

$(BUILD)/libvitcap.a: $(COMMON_OBJ) $(CUDA_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# Which build's programs bin/ holds: rewritten only when that changes, so the
# programs relink after a build of the other kind and not otherwise.
$(BIN)/.build: FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = "$(BUILD)" ] || echo "$(BUILD)" > $@

$(BIN)/%: $(BUILD)/tools/%.o $(BUILD)/libvitcap.a $(BIN)/.build
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter-out %/.build,$^) $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/libvitcap.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(COMMON_OBJ:.o=.d) $(CUDA_OBJ:.o=.d) $(patsubst %,$(BUILD)/tools/%.d,$(TOOLS)) \
	$(UNIT_BINS:=.d) $(GPU_CHECKS:=.d)

# ---- dependencies ---------------------------------------------------------

# Debian 12 packages: compilers and C libraries, the test runner, MPI and BLAS for
# training, and Debian's CPU builds of torch/numpy/PIL for the reference tests.
APT_PKGS := build-essential pkg-config clang libclang-rt-14-dev mandoc bats bsdextrautils zip unzip \
	libjansson-dev libjpeg62-turbo-dev libjpeg-turbo-progs libpng-dev libarchive-dev \
	libopenblas-openmp-dev libopenmpi-dev openmpi-bin gnuplot-nox \
	python3 python3-venv python3-numpy python3-pil python3-torch
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

deps:
	@missing=$$(for p in $(APT_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@$(MAKE) --no-print-directory .venv/.done

# One Python environment for every reference test: Debian's python3 with its system
# packages visible (the light CPU torch), plus the scorers and formats from pip.
.venv/.done: tests/ref/requirements.txt tests/ref/constraints.txt
	/usr/bin/python3 -m venv --system-site-packages .venv
	.venv/bin/pip install -q --disable-pip-version-check -c tests/ref/constraints.txt -r tests/ref/requirements.txt
	@# pycocoevalcap's scorers need only numpy; its declared dependencies
	@# (pycocotools, matplotlib) would pull in a second numpy.
	.venv/bin/pip install -q --disable-pip-version-check --no-deps pycocoevalcap==1.2
	touch $@

# ---- tests, benchmarks, fuzzing -------------------------------------------

# The CUDA kernels on the CPU (tests/gpu/emu, run by tests/cuda_emu.bats): each
# common/*.cu made C++ by cu2cpp.awk and built by the C++ compiler alone over
# emu.h, an emulator of the CUDA it uses, so that every make test checks every
# kernel against the CPU backend without a GPU or the toolkit. The sanitizers of
# SAN=1 apply (ASan follows the emulator's swapcontext; it warns once that it
# may not fully). The generated code gets nvcc's host warnings, never -Werror:
# g++ is not the compiler it is written for.
EMU := $(BUILD)/tests/emu_kernels
EMU_CU := $(patsubst common/%.cu,$(BUILD)/emu/%.o,$(wildcard common/*.cu))
EMU_OBJ := $(patsubst tests/gpu/emu/%.cpp,$(BUILD)/emu/%.o,$(wildcard tests/gpu/emu/*.cpp))
EMU_CXXFLAGS := -std=c++20 -g -O2 -Itests/gpu/emu $(filter -fsanitize=% \
	-fno-sanitize-recover=% -fno-omit-frame-pointer,$(CFLAGS))

$(BUILD)/emu/%.cpp: common/%.cu tests/gpu/emu/cu2cpp.awk
	@mkdir -p $(@D)
	awk -f tests/gpu/emu/cu2cpp.awk $< > $@.tmp && mv $@.tmp $@

$(EMU_CU): $(BUILD)/emu/%.o: $(BUILD)/emu/%.cpp
	$(CXX) $(CPPFLAGS) $(EMU_CXXFLAGS) -Wall -Wextra -Wno-unknown-pragmas -c -o $@ $<

$(EMU_OBJ): $(BUILD)/emu/%.o: tests/gpu/emu/%.cpp
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(EMU_CXXFLAGS) $(filter-out -Wstrict-prototypes \
		-Wmissing-prototypes,$(WARN)) -c -o $@ $<

$(EMU): $(EMU_OBJ) $(EMU_CU) $(BUILD)/libvitcap.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# tests/gpu/model_check.c as make CUDA=1 gpu-checks builds it, over the
# emulated backend: backend_select.c with VITCAP_CUDA, linked ahead of the
# library so that its CUDA-less copy is not (tests/cuda_emu_model.bats).
EMU_CHECK := $(BUILD)/tests/emu_model_check

$(BUILD)/emu/backend_select.o: common/backend_select.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DVITCAP_CUDA $(CFLAGS) -c -o $@ $<

$(EMU_CHECK): $(BUILD)/gpu/model_check.o $(BUILD)/emu/backend_select.o $(BUILD)/emu/emu.o \
		$(EMU_CU) $(BUILD)/libvitcap.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(EMU_OBJ:.o=.d) $(EMU_CU:.o=.d) $(BUILD)/emu/backend_select.d

# Tests find the programs through VITCAP_BIN and the reference Python through PY.
test: $(PROGS) $(UNIT_BINS) $(EMU) $(EMU_CHECK)
	VITCAP_BIN=$(CURDIR)/$(BIN) VITCAP_UNIT=$(CURDIR)/$(BUILD)/tests PY=$(PY) \
		bats --tap tests

bench: all $(UNIT_BINS)
	VITCAP_BIN=$(CURDIR)/$(BIN) VITCAP_UNIT=$(CURDIR)/$(BUILD)/tests PY=$(PY) tests/bench/run.sh

# The GPU checks (tests/gpu/README.md): C programs over the library, built by
# make CUDA=1 gpu-checks and run by tests/gpu/run.sh, which also runs bench-gpu:
# the GPU bench against PyTorch on the same GPU (python3 with CUDA torch).
$(BUILD)/gpu/%.o: tests/gpu/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/gpu/%: $(BUILD)/gpu/%.o $(BUILD)/libvitcap.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

gpu-checks: $(PROGS) $(GPU_CHECKS)

GPU_PY ?= python3
bench-gpu: all
	VITCAP_BIN=$(CURDIR)/$(BIN) PY=$(GPU_PY) bash tests/gpu/bench.sh

# make print-BIN: a variable's value, for scripts
print-%:
	@echo '$($*)'

FUZZ_SECONDS ?= 180
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Icommon -I/usr/include/x86_64-linux-gnu/openblas-openmp \
	$(MPI_CFLAGS) -fopenmp -fsanitize=fuzzer,address,undefined
# the CPU build's sources: NCCL's stand-in, not NCCL
FUZZ_SRC := $(filter-out common/dist_nccl.c,$(wildcard common/*.c))
build/fuzz/fuzz_stream: tests/fuzz/fuzz_stream.c $(FUZZ_SRC) $(wildcard common/*.h)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_stream.c $(FUZZ_SRC) $(LDLIBS)

fuzz: build/fuzz/fuzz_stream
	@mkdir -p build/fuzz/corpus
	build/fuzz/fuzz_stream -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		build/fuzz/corpus tests/fuzz/corpus

# ---- install --------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/man5/*.5 $(DESTDIR)$(MANDIR)/man5

clean:
	rm -rf bin build

include pipelines/demo.mk

# keep the objects that pattern rules chain through, so a rebuild relinks only what
# changed (a bare .SECONDARY: would also stop make from redoing a deleted demo file)
.SECONDARY: $(TOOLS:%=$(BUILD)/tools/%.o) $(UNIT:%=$(BUILD)/tests/%.o) $(GPU_CHECKS:=.o) \
	$(EMU_CU:.o=.cpp)

.PHONY: all deps test bench bench-gpu gpu-checks fuzz install clean demo FORCE
