#!/usr/bin/env bash
# view.sh — end-to-end test of `mptui view`: two short headless runs (fp16, bf16), then the
# read-only screen in tmux on a private socket (legend, eval points, Tab, step cursor, q),
# --summary / --plot on the same folders, and live follow of a run still writing.
set -uo pipefail

root=${MPTUI_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MPTUI_BIN:-$root/mptui}
[ -x "$bin" ] || { echo "view FAIL: no mptui binary at $bin (run make)"; exit 1; }
command -v tmux >/dev/null || { echo "view FAIL: tmux not installed (make deps installs it)"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mptui-view.XXXXXX") || { echo "view FAIL: mktemp"; exit 1; }
sock="$tmp/tmux.sock"
cleanup() {
    tmux -S "$sock" kill-server >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "view: interrupted"; exit 130' INT TERM HUP

screen() { tmux -S "$sock" capture-pane -p -t view 2>/dev/null; }
fail() {
    echo "view FAIL: $*"
    echo "---- screen ----"
    screen
    exit 1
}
until_ok() {
    local limit=$1 t=0
    shift
    while ! "$@"; do
        t=$((t + 1))
        [ "$t" -ge $((limit * 5)) ] && return 1
        sleep 0.2
    done
}
shows() { screen | grep -Eq -- "$1"; }
key() { tmux -S "$sock" send-keys -t view "$@"; }
exited() { [ -s "$tmp/exit" ]; }

small="--n_layer 1 --n_head 2 --n_embd 32 --block_size 32 --per_device_train_batch_size 4 \
--max_steps 10 --logging_steps 2 --eval_steps 5 --eval_max_batches 1 --save_strategy no"
for m in fp16 bf16; do
    # shellcheck disable=SC2086
    (cd "$tmp" && "$bin" --headless --$m --output_dir "$m-run" $small >"$m.log" 2>&1) ||
        fail "headless $m run failed: $(tail -n 3 "$tmp/$m.log")"
done
echo "view: two headless runs (fp16-run, bf16-run)"

(cd "$tmp" && "$bin" view --summary fp16-run bf16-run >sum.txt 2>sum.err) || fail "--summary failed: $(cat "$tmp/sum.err")"
grep -Eq '^fp16-run +fp16 +10 ' "$tmp/sum.txt" || fail "--summary: no fp16-run line: $(cat "$tmp/sum.txt")"
grep -Eq '^bf16-run +bf16 +10 ' "$tmp/sum.txt" || fail "--summary: no bf16-run line: $(cat "$tmp/sum.txt")"
(cd "$tmp" && "$bin" view --plot p.svg fp16-run bf16-run) || fail "--plot failed"
[ "$(grep -c '<polyline class="train"' "$tmp/p.svg")" = 2 ] || fail "--plot: not 2 polylines"
grep -q '>bf16-run (bf16)</text>' "$tmp/p.svg" || fail "--plot: no bf16-run legend"
echo "view: --summary and --plot on the same folders"

loc=C
locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && loc=C.UTF-8
cmd="cd '$tmp' && env TERM=xterm-256color LANG=$loc LC_ALL=$loc '$bin' view fp16-run bf16-run; \
echo \$? > '$tmp/exit'; sleep 600"
tmux -S "$sock" -f /dev/null new-session -d -s view -x 100 -y 30 "$cmd" ||
    fail "tmux new-session did not start"

legend='\[fp16-run fp16\] +(▲|\+) bf16-run bf16'
until_ok 30 shows "$legend" || fail "no legend naming both runs within 30 s"
shows 'eval [0-9.]+ ppl [0-9.]+ @10' || fail "no eval values in the runs panel"
shows 'Precision map' || fail "no precision map"
echo "view: both runs overlaid, legend '$(screen | grep -Eo "$legend" | head -n 1)'"
key Tab
until_ok 10 shows '\[bf16-run bf16\]' || fail "Tab: bf16-run not selected"
key Right
until_ok 10 shows 'Runs @step 10' || fail "Right: no step cursor"
key Left
until_ok 10 shows 'Runs @step 8' || fail "Left: the cursor did not move to step 8"
echo "view: Tab selects, Left/Right move the step cursor"
key q
until_ok 20 exited || fail "q: mptui view still running after 20 s"
[ "$(cat "$tmp/exit")" = 0 ] || fail "q: exit code $(cat "$tmp/exit")"
echo "view: q -> exit 0"

# live follow: a headless run still writing; the screen's step count grows as rows arrive
# shellcheck disable=SC2086
(cd "$tmp" && exec "$bin" --headless --fp16 --output_dir live-run ${small/--max_steps 10/--max_steps 1000000} \
    --eval_steps 999983 >live.log 2>&1) &
train=$!
has_rows() { [ "$(wc -l 2>/dev/null <"$tmp/live-run/logs/metrics.csv" || echo 0)" -ge 2 ]; }
until_ok 60 has_rows || { kill "$train"; fail "the live run logged no row within 60 s"; }
rm -f "$tmp/exit"
cmd="cd '$tmp' && env TERM=xterm-256color LANG=$loc LC_ALL=$loc '$bin' view live-run; \
echo \$? > '$tmp/exit'; sleep 600"
tmux -S "$sock" -f /dev/null new-session -d -s live -x 100 -y 30 "$cmd" ||
    { kill "$train"; fail "tmux new-session (live) did not start"; }
lscreen() { tmux -S "$sock" capture-pane -p -t live 2>/dev/null; }
steps_shown() { lscreen | grep -Eo 'steps [0-9]+' | head -n 1 | grep -Eo '[0-9]+'; }
until_ok 30 steps_shown >/dev/null || { kill "$train"; fail "live: no step count on the screen"; }
first=$(steps_shown)
grew() { local now; now=$(steps_shown); [ -n "$now" ] && [ "$now" -gt "$first" ]; }
until_ok 60 grew || { kill "$train"; fail "live: the step count stayed $first for 60 s"; }
echo "view: live follow, steps $first -> $(steps_shown) while the run writes"
kill "$train"
wait "$train" 2>/dev/null
tmux -S "$sock" send-keys -t live q
until_ok 20 exited || fail "live: q did not end mptui view"
[ "$(cat "$tmp/exit")" = 0 ] || fail "live: q exit code $(cat "$tmp/exit")"
echo "view: PASS"
