#!/usr/bin/env bash
# signals.sh — SIGTERM and SIGHUP (an SSH drop) end a run the way q does: the step finishes,
# a checkpoint is saved per --save_strategy, the terminal leaves the alternate screen with
# the cursor shown, the summary is printed and the exit code is 0. Screen runs in tmux on a
# private socket (as e2e.sh), then headless runs, one of them stopped inside a step whose
# gradient accumulation would take hours.
set -uo pipefail

root=${MPTUI_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MPTUI_BIN:-$root/mptui}
[ -x "$bin" ] || { echo "signals FAIL: no mptui binary at $bin (run make)"; exit 1; }
command -v tmux >/dev/null || { echo "signals FAIL: tmux not installed (make deps installs it)"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mptui-signals.XXXXXX") || { echo "signals FAIL: mktemp"; exit 1; }
sock="$tmp/tmux-TERM.sock"
hpid=
cleanup() {
    [ -n "$hpid" ] && kill -KILL "$hpid" 2>/dev/null
    for s in "$tmp"/tmux-*.sock; do tmux -S "$s" kill-server >/dev/null 2>&1; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "signals: interrupted"; exit 130' INT TERM HUP

screen() { tmux -S "$sock" capture-pane -p -t sig 2>/dev/null; }
fail() {
    echo "signals FAIL: $*"
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
exited() { [ -s "$tmp/exit" ]; }
pane() { tmux -S "$sock" display-message -p -t sig "$1"; }

loc=C
locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && loc=C.UTF-8
max=1000000
never=999983
model="--n_layer 1 --n_head 2 --n_embd 32 --block_size 32 --per_device_train_batch_size 4 \
--eval_steps $never --save_steps $never --logging_steps 5 --sample_length 0 --device cpu"

# screen_run SIGNAL: starts the screen, waits for training, sends SIGNAL to mptui (the
# pane shell's child), and checks exit code, checkpoint, terminal state and summary.
screen_run() {
    local sig=$1 out="$tmp/out-$1"
    sock="$tmp/tmux-$sig.sock" # a fresh server each run: a dying one can refuse new sessions
    rm -f "$tmp/exit"
    local cmd="cd '$tmp' && env TERM=xterm-256color LANG=$loc LC_ALL=$loc '$bin' --output_dir '$out' \
--max_steps $max $model; echo \$? > '$tmp/exit'; sleep 600"
    tmux -S "$sock" -f /dev/null new-session -d -s sig -x 100 -y 30 "$cmd" ||
        fail "tmux new-session did not start"
    until_ok 60 shows "step [1-9][0-9]*/$max" || fail "$sig: no step count on the screen within 60 s"
    [ "$(pane '#{alternate_on}')" = 1 ] || fail "$sig: the screen is not in the alternate screen"
    local shell_pid pid
    shell_pid=$(pane '#{pane_pid}')
    pid=$(pgrep -P "$shell_pid" | head -n 1)
    [ -n "$pid" ] || fail "$sig: no mptui process under the pane's shell $shell_pid"
    kill "-$sig" "$pid" || fail "$sig: kill failed"
    until_ok 30 exited || fail "$sig: mptui still running 30 s after SIG$sig"
    local code
    code=$(cat "$tmp/exit")
    [ "$code" = 0 ] || fail "$sig: exit code $code, want 0"
    compgen -G "$out/checkpoint-*" >/dev/null || fail "$sig: no checkpoint saved under $out"
    [ "$(pane '#{alternate_on}')" = 0 ] || fail "$sig: the terminal was left in the alternate screen"
    [ "$(pane '#{cursor_flag}')" = 1 ] || fail "$sig: the cursor was left hidden"
    until_ok 5 shows "done: [0-9]+/$max steps" || fail "$sig: no summary line after the screen"
    echo "signals: SIG$sig on the screen -> exit 0, $(basename "$(compgen -G "$out/checkpoint-*" | head -n 1)"), terminal restored"
}

screen_run TERM
screen_run HUP

logged() { grep -Eq -- "step +[1-9][0-9]*/$max" "$tmp/h.txt"; }
# metrics.csv is opened last before the run starts; the run is then inside its first step
csv_open() { [ -e "$tmp/hout-TERM/logs/metrics.csv" ] && sleep 0.5; }

# headless_run SIGNAL READY EXTRA...: runs headless, waits until READY succeeds, sends
# SIGNAL and checks exit 0, the summary and a checkpoint.
headless_run() {
    local sig=$1 ready=$2 out="$tmp/hout-$1"
    shift 2
    "$bin" --headless --output_dir "$out" --max_steps $max $model "$@" >"$tmp/h.txt" 2>&1 &
    hpid=$!
    until_ok 60 "$ready" || fail "headless $sig: not $ready within 60 s: $(cat "$tmp/h.txt")"
    kill "-$sig" "$hpid"
    local code t=0
    while kill -0 "$hpid" 2>/dev/null; do
        t=$((t + 1))
        [ "$t" -ge 150 ] && fail "headless $sig: still running 30 s after the signal"
        sleep 0.2
    done
    wait "$hpid"
    code=$?
    hpid=
    [ "$code" = 0 ] || fail "headless $sig: exit code $code: $(tail -n 3 "$tmp/h.txt")"
    grep -Eq "^done: [0-9]+/$max steps" "$tmp/h.txt" || fail "headless $sig: no summary: $(tail -n 3 "$tmp/h.txt")"
    compgen -G "$out/checkpoint-*" >/dev/null || fail "headless $sig: no checkpoint saved"
}

headless_run TERM logged
echo "signals: SIGTERM headless -> exit 0, summary, $(basename "$(compgen -G "$tmp/hout-TERM/checkpoint-*" | head -n 1)")"
rm -rf "$tmp/hout-TERM"
# inside one optimizer step of a million micro-batches: the step is abandoned, the state
# saved is the last full step's (here the start: checkpoint-0)
headless_run TERM csv_open --gradient_accumulation_steps 1000000 --logging_steps 1
grep -q "^done: 0/$max" "$tmp/h.txt" || fail "headless TERM in a long step: $(cat "$tmp/h.txt")"
[ -d "$tmp/hout-TERM/checkpoint-0" ] || fail "headless TERM in a long step: no checkpoint-0"
echo "signals: SIGTERM headless inside a million-micro-batch step -> exit 0, checkpoint-0"
echo "signals: PASS"
