#!/usr/bin/env bash
# run-tests.sh BUILD [thread] — the whole suite: terminal end-to-end scripts, then the
# Criterion binary last so its synthesis line closes the output. With `thread` (the TSan
# build) the Criterion binary is replaced by the plain programs of tests/tsan/.
set -uo pipefail
build="$1"
mode="${2:-}"
rc=0
if [ "$mode" = thread ]; then
    # second_deadlock_stack: full reports; exitcode 66 makes any report fail the test.
    export TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1 exitcode=66}"
fi
# Criterion's .timeout leaks a watchdog record LeakSanitizer reports at random: see
# tests/test_deadline.h.
if grep -n '\.timeout *=' tests/*.c; then
    echo "FAILED: tests use Criterion's .timeout above; call test_deadline() (tests/test_deadline.h)"
    rc=1
fi
for t in tests/tui/*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    if ! bash "$t"; then echo "FAILED: $t"; rc=1; fi
done
if [ "$mode" = thread ]; then
    n=0
    for p in "$build"/tsan/*; do
        [ -x "$p" ] || continue
        echo "== $p"
        if ! "$p"; then echo "FAILED: $p"; rc=1; fi
        n=$((n + 1))
    done
    echo "ThreadSanitizer: the Criterion suites are skipped (Criterion cannot start under TSan," \
         "Snaipe/Criterion#274); ran tests/tui and $n TSan program(s): $([ $rc = 0 ] && echo PASS || echo FAIL)"
    exit $rc
fi
"$build/tests/all" || rc=1
exit $rc
