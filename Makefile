# mptui — build, test, bench. CPU always; the CUDA backend when nvcc is found.
#   make                 build ./mptui (installs missing Debian packages first: make deps)
#   make test            build and run the Criterion suite + terminal end-to-end tests
#   make SAN=address,undefined test | make SAN=thread test   sanitizer builds (own build dir)
#   make bench           CPU benchmarks (GPT-2 124M included)          make clean
#   make bench-gpu       GPT-2 124M on the GPU (fp32/fp16/bf16) next to PyTorch AMP (docs/cuda.md)
#   make CUDA=0 | make NVCC=   CPU-only build even where nvcc exists
#   make DEPS_PREFIX=DIR  headers/libs from DIR/usr (dpkg -x tree, scripts/cuda-deps.sh)

CC      ?= gcc
SAN     ?=
CUDA    ?= auto
comma   := ,
BUILD   := build$(if $(SAN),-$(subst $(comma),-,$(SAN)))

CSTD     = -std=c11 -D_GNU_SOURCE -DMPTUI_SOURCE_DIR=\"$(abspath .)\"
WARN     = -Wall -Wextra -Werror -Wno-format-truncation
OPT     ?= -O2 -g
INCLUDES = -Isrc -Isrc/gpu -Isrc/train -Isrc/ui -Iinclude
LIBS     = -lopenblas -lcsv -ljansson -lpcre2-8 -lnettle -lncursesw -lpthread -lm

# Build dependencies unpacked into a folder instead of installed (a machine without a package
# registry: scripts/cuda-deps.sh fills .cuda-deps/). Its libraries are found at run time too.
DEPS_PREFIX ?=
ifneq ($(DEPS_PREFIX),)
  DEPS_LIBDIRS := $(DEPS_PREFIX)/usr/lib/x86_64-linux-gnu $(DEPS_PREFIX)/lib/x86_64-linux-gnu \
                  $(DEPS_PREFIX)/usr/lib/x86_64-linux-gnu/openblas-pthread
  INCLUDES += -I$(DEPS_PREFIX)/usr/include -I$(DEPS_PREFIX)/usr/include/ncursesw \
              -I$(DEPS_PREFIX)/usr/include/x86_64-linux-gnu/openblas-pthread
  # DT_RPATH, not RUNPATH: it also serves the libraries' own dependencies (Criterion needs
  # libgit2, libnanomsg, ... from the same folder), without LD_LIBRARY_PATH.
  LDFLAGS  += $(foreach d,$(DEPS_LIBDIRS),-L$(d) -Wl,-rpath,$(d)) -Wl,--disable-new-dtags
endif

# OpenMP threads the CPU ops. libgomp is not TSan-instrumented, so the thread-sanitizer
# build runs ops single-threaded (the UI/worker threads are what it is there to check).
ifeq ($(findstring thread,$(SAN)),)
  OMP = -fopenmp
else
  OMP = -Wno-unknown-pragmas
endif
SANFLAGS = $(if $(SAN),-fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all)

CFLAGS  += $(CSTD) $(WARN) $(OPT) $(OMP) $(SANFLAGS) $(INCLUDES) -MMD -MP
LDFLAGS += $(OMP) $(SANFLAGS)

# ---- CUDA (optional) ----
# nvcc from PATH, else /usr/local/cuda; `make NVCC=` or `make CUDA=0` builds CPU-only.
# CUDA_ARCH: real code for sm_80 (A100) and sm_90 (H100/H200) plus compute_90 PTX for newer GPUs.
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
CU_SRC  := $(wildcard src/gpu/cuda/*.cu)
ifeq ($(CUDA),auto)
  USE_CUDA := $(if $(and $(NVCC),$(wildcard $(NVCC)),$(CU_SRC)),1,0)
else
  USE_CUDA := $(if $(and $(filter 1 yes on,$(CUDA)),$(NVCC)),1,0)
endif
ifeq ($(USE_CUDA),1)
  CFLAGS  += -DMPTUI_CUDA=1
  CU_OBJ  := $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
  CUDA_LIBDIR := $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/targets/x86_64-linux/lib) $(CUDA_HOME)/lib64)
  LIBS    += -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcublasLt -lcublas -lcudart -lstdc++
  # -fmad=false: no FMA contraction, as the CPU reference (gcc, x86-64 baseline) computes;
  # elementwise ops, AdamW and the LayerNorm weight gradients then agree bit for bit.
  # Sanitizer builds do not instrument .cu host code (the C side around it is checked).
  # NVWERROR= makes warnings non-fatal (another compiler version on a GPU box); NVEXTRA adds
  # flags (e.g. -allow-unsupported-compiler).
  NVWERROR ?= -Werror all-warnings -Xcompiler -Werror
  NVFLAGS ?= -O3 -std=c++17 $(CUDA_ARCH) -fmad=false -DMPTUI_CUDA=1 -Isrc -Isrc/gpu \
             -Xcompiler -Wall,-Wextra,-Wno-format-truncation $(NVWERROR) $(NVEXTRA)
  # NCCL (optional, docs/dist.md): the ranks' gradients all-reduced GPU to GPU. Found where
  # CUDA ships it (nccl.h + libnccl) or from NCCL_HOME; `make NCCL=0` leaves it out (MPI only).
  NCCL ?= auto
  NCCL_HOME ?= $(CUDA_HOME)
  NCCL_LIBDIR := $(firstword $(dir $(wildcard $(NCCL_HOME)/lib64/libnccl.so $(NCCL_HOME)/lib/libnccl.so /usr/lib/x86_64-linux-gnu/libnccl.so)))
  USE_NCCL := $(if $(and $(filter auto 1 yes on,$(NCCL)),$(wildcard $(NCCL_HOME)/include/nccl.h /usr/include/nccl.h),$(NCCL_LIBDIR)),1,0)
  ifeq ($(USE_NCCL),1)
    CFLAGS  += -DMPTUI_NCCL=1
    NVFLAGS += -DMPTUI_NCCL=1
    LIBS    += -L$(NCCL_LIBDIR) -Wl,-rpath,$(NCCL_LIBDIR) -lnccl
  endif
endif
USE_NCCL ?= 0
# ---- MPI (optional: data-parallel runs under mpirun, docs/dist.md) ----
# mpicc from PATH (Debian: libopenmpi-dev); `make MPI=0` builds without it (a world of one).
MPI   ?= auto
MPICC ?= $(shell command -v mpicc 2>/dev/null)
ifeq ($(MPI),auto)
  USE_MPI := $(if $(MPICC),1,0)
else
  USE_MPI := $(if $(and $(filter 1 yes on,$(MPI)),$(MPICC)),1,0)
endif
ifeq ($(USE_MPI),0)
  $(info mptui: MPI not found (mpicc): building without data-parallel runs (make deps installs libopenmpi-dev))
endif
ifeq ($(USE_MPI),1)
  # -isystem: the MPI headers are not ours to keep -Wextra clean
  CFLAGS += -DMPTUI_MPI=1 $(patsubst -I%,-isystem %,$(shell $(MPICC) --showme:compile))
  LIBS   += $(shell $(MPICC) --showme:link)
endif

# Objects depend on this stamp, which changes only when the configuration does: switching
# between CUDA and CPU-only builds (or DEPS_PREFIX) recompiles instead of linking stale objects.
CONFIG_STAMP := $(BUILD)/obj/config.stamp
CONFIG_LINE  := cuda=$(USE_CUDA) nvcc=$(NVCC) arch=$(CUDA_ARCH) deps=$(DEPS_PREFIX) mpi=$(USE_MPI) nccl=$(USE_NCCL)
$(shell mkdir -p $(BUILD)/obj && { echo '$(CONFIG_LINE)' | cmp -s - $(CONFIG_STAMP) || echo '$(CONFIG_LINE)' > $(CONFIG_STAMP); })

# ---- sources ----
LIB_SRC  := $(wildcard src/gpu/*.c src/gpu/cpu/*.c src/train/*.c src/ui/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CU_OBJ)
MAIN_OBJ := $(BUILD)/obj/src/main.o
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TSAN_SRC := $(wildcard tests/tsan/*.c)
TSAN_BIN := $(TSAN_SRC:tests/tsan/%.c=$(BUILD)/tsan/%)
BENCH_SRC:= $(filter-out bench/bench_gpu.c,$(wildcard bench/*.c))
BENCH_BIN:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EX_SRC   := $(wildcard examples/*.c)
EX_BIN   := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
LIBA     := $(BUILD)/libmptui.a

# Hot numeric code gets -O3 (vectorized rounding / elementwise loops). No FP-exception
# traps are ever read, so selects may be speculated: without it GCC leaves GELU scalar.
$(BUILD)/obj/src/gpu/%.o: OPT = -O3 -g -fno-trapping-math

.PHONY: all test test-unit test-tui bench bench-gpu clean deps deps-check fuzz
all: mptui $(EX_BIN)

deps:
	@scripts/deps.sh install
deps-check:
ifeq ($(DEPS_PREFIX),)
	@scripts/deps.sh check >/dev/null 2>&1 || scripts/deps.sh install
endif

$(BUILD)/obj/%.o: %.c $(CONFIG_STAMP) | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cu $(CONFIG_STAMP) | deps-check
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/mptui: $(MAIN_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# ./mptui is always the plain build; sanitizer builds stay in their own directory.
ifeq ($(SAN),)
mptui: $(BUILD)/mptui
	cp $< $@.tmp && mv -f $@.tmp $@
else
mptui: $(BUILD)/mptui
endif

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# One binary per test file (fast iteration: make build/tests/test_scaler) and one with all
# of them, so `make test` ends with a single Criterion synthesis line.
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcriterion

$(BUILD)/tests/all: $(TEST_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcriterion

# Plain programs for the thread-sanitizer build, where Criterion cannot start.
$(BUILD)/tsan/%: $(BUILD)/obj/tests/tsan/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Tests find the binaries they drive through these variables.
export MPTUI_BIN = $(abspath $(BUILD)/mptui)
export MPTUI_EXAMPLES = $(abspath $(BUILD)/examples)
export MPTUI_ROOT = $(abspath .)

# Criterion aborts at start under ThreadSanitizer (Snaipe/Criterion#274): the TSan build
# runs the end-to-end screen test and tests/tsan/ instead, and says so.
ifeq ($(findstring thread,$(SAN)),)
test: $(BUILD)/mptui $(EX_BIN) $(BUILD)/tests/all
	@scripts/run-tests.sh $(BUILD)
else
test: $(BUILD)/mptui $(TSAN_BIN)
	@scripts/run-tests.sh $(BUILD) thread
endif

test-unit: $(BUILD)/mptui $(EX_BIN) $(BUILD)/tests/all
	$(BUILD)/tests/all

# bench_gpt2 (GPT-2 124M: tok/s per mode, peak RSS per mode) takes about 4 min on 2 idle
# cores; BENCH_GPT2_ARGS="--rounds 5" (or --no-memory, --no-pytorch) changes its share.
BENCH_GPT2_ARGS ?=
bench: $(BUILD)/mptui $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; \
	  case $$b in */bench_gpt2) $$b $(BENCH_GPT2_ARGS);; *) $$b;; esac || exit 1; done

# GPU benchmark: GPT-2 124M, T=1024, fp32/fp16/bf16 through the trainer, then the same model in
# PyTorch AMP; prints tokens/s, MFU and the ratio. Needs a GPU (and torch + transformers).
BENCH_GPU_OUT ?= $(BUILD)/bench-gpu.tsv
bench-gpu: $(BUILD)/bench/bench_gpu
	$(BUILD)/bench/bench_gpu $(BENCH_GPU_ARGS) --out $(BENCH_GPU_OUT)
	python3 bench/pytorch_amp.py $(PYTORCH_ARGS) --compare $(BENCH_GPU_OUT)

clean:
	rm -rf build build-* mptui

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- fuzzing (clang libFuzzer + ASan/UBSan; in build-fuzz/, never part of `make test`) ----
#   make fuzz [FUZZ_TIME=60]   builds the harnesses and runs each for FUZZ_TIME seconds on its
#   seed corpus tests/fuzz/<name>/ (new finds go to build-fuzz/corpus/<name>/, crashes to
#   build-fuzz/crash-*).
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_DIR   := build-fuzz
FUZZ_NAMES := safetensors state config bpe
FUZZ_FLAGS  = -std=c11 -D_GNU_SOURCE -g -O1 -fopenmp -fno-omit-frame-pointer \
              -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all $(INCLUDES)
FUZZ_OBJ   := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)

# clang 14 rejects __builtin_cpu_supports("f16c"): fuzz builds take the portable
# (bit-identical) conversion path instead.
$(FUZZ_DIR)/obj/src/gpu/numerics.o: FUZZ_EXTRA = '-D__builtin_cpu_supports(x)=0'

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_EXTRA) -c $< -o $@

$(FUZZ_DIR)/libmptui.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libmptui.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $< -o $@ $(FUZZ_DIR)/libmptui.a $(LIBS)

.PHONY: fuzz-build
fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)

fuzz: fuzz-build
	@for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$n; \
	    echo "== fuzz_$$n ($(FUZZ_TIME) s)"; \
	    (cd $(FUZZ_DIR) && ./fuzz_$$n -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	        corpus/$$n ../tests/fuzz/$$n) || exit 1; \
	done
