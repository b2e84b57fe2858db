#!/usr/bin/env bash
# run-tests.sh BUILD — the whole suite: terminal end-to-end scripts, then the Criterion
# binary last so its synthesis line closes the output.
set -uo pipefail
build="$1"
rc=0
for t in tests/tui/*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    if ! bash "$t"; then echo "FAILED: $t"; rc=1; fi
done
"$build/tests/all" || rc=1
exit $rc
