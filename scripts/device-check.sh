#!/usr/bin/env bash
# device-check.sh — everything a GPU machine should confirm, in one run (~5 minutes on an
# H200): build with CUDA, the CUDA-vs-CPU cross-check tests, then `make bench-gpu` (mptui
# fp32/fp16/bf16 next to PyTorch AMP, with the ratio). Run from anywhere:
#   scripts/device-check.sh [--quick]     (--quick: tests only, no benchmark)
# Without a package registry there, first run scripts/cuda-deps.sh here and carry
# .cuda-deps/: it is used automatically when present. Exit status: 0 only if all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs="$(nproc 2>/dev/null || echo 4)"
# warnings stay warnings there: another compiler version must not stop the check
mk=(make -j"$jobs" CUDA=1 "WARN=-Wall -Wextra -Wno-format-truncation" NVWERROR=)
# the machine's own -dev packages win when complete; else the carried folder
if [ -d .cuda-deps/usr/include ] && ! scripts/deps.sh check >/dev/null 2>&1; then
    mk+=(DEPS_PREFIX="$PWD/.cuda-deps")
fi
rc=0
step() { echo; echo "=== $*"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
nvcc --version 2>&1 | tail -1 || { echo "no nvcc"; exit 1; }

step "build (${mk[*]})"
tests=(backend elementwise optim encoder loss gemm layernorm attention fp8 train)
targets=(build/mptui build/bench/bench_gpu)
for t in "${tests[@]}"; do targets+=("build/tests/test_cuda_$t"); done
mkdir -p build
if ! "${mk[@]}" "${targets[@]}" >build/device-build.log 2>&1; then
    if grep -q "unsupported GNU version\|unsupported .* version" build/device-build.log; then
        echo "nvcc rejects this host compiler: retrying with -allow-unsupported-compiler"
        mk+=(NVEXTRA=-allow-unsupported-compiler)
        "${mk[@]}" "${targets[@]}" >build/device-build.log 2>&1 ||
            { tail -40 build/device-build.log; echo "BUILD FAILED"; exit 1; }
    else
        tail -40 build/device-build.log
        echo "BUILD FAILED"
        exit 1
    fi
fi
echo "ok"

step "device selection"
./build/mptui --headless --device cuda --max_steps 2 --logging_steps 1 --eval_strategy no \
    --save_strategy no --sample_length 0 --output_dir build/device-run || rc=1

step "CUDA vs CPU cross-checks"
for t in "${tests[@]}"; do
    # --verbose lists each test (a skip would show its reason); 300 s each at most
    timeout 300 "build/tests/test_cuda_$t" --verbose -j1 2>&1 | grep -v '^\[RUN \]'
    r=${PIPESTATUS[0]}
    [ "$r" = 0 ] || { echo "FAILED: test_cuda_$t (exit $r)"; rc=1; }
done

if [ "$quick" = 0 ]; then
    step "make bench-gpu"
    "${mk[@]}" bench-gpu || rc=1
fi
# the device tool brings back what lands in $OUT
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp build/device-build.log build/bench-gpu.tsv "$OUT"/ 2>/dev/null || true
fi
echo
[ "$rc" = 0 ] && echo "device-check: ALL PASSED" || echo "device-check: FAILURES (see above)"
exit $rc
