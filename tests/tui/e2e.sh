#!/usr/bin/env bash
# e2e.sh — end-to-end test of the screen: runs mptui inside tmux on a private socket and
# drives it with keys (eval, save, mode, help, resize, compare, quit), polling capture-pane.
set -uo pipefail

root=${MPTUI_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MPTUI_BIN:-$root/mptui}
[ -x "$bin" ] || { echo "e2e FAIL: no mptui binary at $bin (run make)"; exit 1; }
command -v tmux >/dev/null || { echo "e2e FAIL: tmux not installed (make deps installs it)"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mptui-e2e.XXXXXX") || { echo "e2e FAIL: mktemp"; exit 1; }
sock="$tmp/tmux.sock"
out="$tmp/out"
cleanup() {
    tmux -S "$sock" kill-server >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "e2e: interrupted"; exit 130' INT TERM HUP

screen() { tmux -S "$sock" capture-pane -p -t e2e 2>/dev/null; }
fail() {
    echo "e2e FAIL: $*"
    echo "---- screen ----"
    screen
    echo "---- mptui.log ----"
    grep -E "eval|save|error|mode" "$out/mptui.log" 2>/dev/null | tail -n 10; tail -n 5 "$out/mptui.log" 2>/dev/null
    exit 1
}
# until SECONDS COMMAND... : polls every 0.2 s until COMMAND succeeds; 1 on timeout.
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
hides() { ! screen | grep -Eq -- "$1"; }
alive() { [ ! -e "$tmp/exit" ]; }
key() { tmux -S "$sock" send-keys -t e2e "$@"; }
mode_label() { screen | grep -Eo '(FP32|FP16|BF16|FP8) \((dynamic|static|no scaling)\)' | head -n 1; }
# The run must outlive every key (training is fast: a short run would finish first), and
# the schedule must never eval or save on its own, so what the keys show is theirs.
max=1000000
never=999983
# an eval at a step that the schedule would not have run: the e key made it
key_eval_shown() {
    screen | grep -Eo 'ppl [0-9.]+ +@[0-9]+' | grep -Eo '[0-9]+$' |
        while read -r s; do [ $((s % never)) -ne 0 ] && echo yes; done | grep -q yes
}
has_checkpoint() { compgen -G "$out/checkpoint-*" >/dev/null; }
exited() { [ -s "$tmp/exit" ]; }

loc=C
locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && loc=C.UTF-8
cmd="cd '$tmp' && env TERM=xterm-256color LANG=$loc LC_ALL=$loc '$bin' --output_dir '$out' \
--max_steps $max --eval_steps $never --save_steps $never --logging_steps 5 \
--n_layer 2 --n_head 2 --n_embd 64 --block_size 64 --per_device_train_batch_size 8 \
--eval_max_batches 2 --sample_length 40 --save_total_limit 2; echo \$? > '$tmp/exit'; sleep 600"
tmux -S "$sock" -f /dev/null new-session -d -s e2e -x 100 -y 30 "$cmd" ||
    fail "tmux new-session did not start"

until_ok 90 shows "step [1-9][0-9]*/$max" || fail "no step count on the screen within 90 s"
alive || fail "mptui exited early (code $(cat "$tmp/exit"))"
echo "e2e: training shows a step count"

key e
until_ok 60 key_eval_shown || fail "e: no eval perplexity from the key within 60 s"
echo "e2e: e -> eval perplexity shown"

key s
until_ok 60 has_checkpoint || fail "s: no checkpoint-* directory under $out within 60 s"
echo "e2e: s -> $(basename "$(compgen -G "$out/checkpoint-*" | head -n 1)")"

before=$(mode_label)
[ -n "$before" ] || fail "m: no precision mode label in the header"
key m
mode_changed() { local now; now=$(mode_label); [ -n "$now" ] && [ "$now" != "$before" ]; }
until_ok 30 mode_changed || fail "m: mode label stayed '$before' for 30 s"
echo "e2e: m -> '$before' became '$(mode_label)'"

key '?'
until_ok 10 shows 'press any key to close' || fail "?: no help overlay"
shows 'F10' || fail "?: help lacks the quit key"
key x
until_ok 10 hides 'press any key to close' || fail "help did not close on a key"
echo "e2e: ? -> help shown and closed"

tmux -S "$sock" resize-window -t e2e -x 60 -y 20 || fail "tmux resize-window failed"
until_ok 10 shows 'terminal too small \(need 80x24\)' || fail "60x20: no too-small notice"
tmux -S "$sock" resize-window -t e2e -x 100 -y 30 || fail "tmux resize-window failed"
screen_back() { hides 'too small' && shows 'Precision map' && shows "step [0-9]+/$max"; }
until_ok 10 screen_back || fail "100x30: the screen did not come back"
echo "e2e: resize -> too-small notice, then the screen again"

# wide enough, the Memory panel shows the plan in the run's mode (hidden at 100x30)
hides 'total \(peak\)' || fail "100x30: the Memory panel should be hidden"
tmux -S "$sock" resize-window -t e2e -x 140 -y 30 || fail "tmux resize-window failed"
mem_shown() {
    local m
    m=$(mode_label | grep -Eo 'FP32|FP16|BF16|FP8')
    shows "Memory $m" && shows 'total \(peak\)' && shows 'master weights +fp32'
}
until_ok 10 mem_shown || fail "140x30: no Memory panel in the run's mode"
echo "e2e: 140x30 -> Memory panel, $(screen | grep -Eo 'total \(peak\) +[0-9.]+ [KMG]iB' | head -n 1)"
tmux -S "$sock" resize-window -t e2e -x 100 -y 30 || fail "tmux resize-window failed"

# c: the picker, 1 = the first other mode; the legend shows both replicas, Tab moves the
# selection (brackets), c ends the comparison keeping the selected one
key c
until_ok 10 shows 'compare (FP32|FP16|BF16|FP8) with: 1 ' || fail "c: no compare picker"
key 1
legend='(●|o) ?\[?(FP32|FP16|BF16|FP8)\]? +(▲|\+) ?\[?(FP32|FP16|BF16|FP8)'
until_ok 60 shows "$legend" || fail "c 1: no legend with both replicas within 60 s"
until_ok 60 shows 'Divergence @[0-9]+' || fail "c 1: no divergence numbers within 60 s"
echo "e2e: c -> comparison, legend '$(screen | grep -Eo "$legend" | head -n 1)'"
key Tab
until_ok 30 shows '(▲|\+)\[(FP32|FP16|BF16|FP8)\]' || fail "Tab: the second replica is not selected"
kept=$(screen | grep -Eo '(▲|\+)\[(FP32|FP16|BF16|FP8)\]' | grep -Eo 'FP32|FP16|BF16|FP8' | head -n 1)
key c
ended() { hides 'Divergence' && shows "$kept \((dynamic|static|no scaling)\)"; }
until_ok 60 ended || fail "c: the comparison did not end keeping $kept"
echo "e2e: Tab, c -> comparison ended, training goes on as $kept"

alive || fail "mptui exited before q (code $(cat "$tmp/exit"))"
key q
until_ok 90 exited || fail "q: mptui still running after 90 s"
code=$(cat "$tmp/exit")
[ "$code" = 0 ] || fail "q: mptui exited with code $code"
csv="$out/logs/metrics.csv"
grep -Eq ',(fp32|fp16|bf16)$' "$csv" || fail "metrics.csv has no replica rows"
[ -s "$out/logs/compare.csv" ] || fail "no compare.csv"
[ -s "$csv" ] || fail "no $csv"
head -n 1 "$csv" | grep -q '^step,' || fail "metrics.csv header is '$(head -n 1 "$csv")'"
rows=$(($(wc -l <"$csv") - 1))
[ "$rows" -ge 2 ] || fail "metrics.csv has $rows rows"
echo "e2e: q -> exit 0, metrics.csv has a header and $rows rows"
echo "e2e: PASS"
