#!/usr/bin/env bash
# deps.sh check|install — the Debian packages mptui builds and tests with.
set -euo pipefail
PKGS="gcc make libncurses-dev libcsv-dev libcriterion-dev libopenblas-dev libjansson-dev libpcre2-dev nettle-dev libopenmpi-dev openmpi-bin tmux python3"
have_all() {
    local f
    for f in /usr/include/csv.h /usr/include/criterion/criterion.h /usr/include/jansson.h /usr/include/pcre2.h /usr/include/nettle/sha2.h \
             /usr/include/ncursesw/curses.h; do
        [ -e "$f" ] || { echo "missing $f"; return 1; }
    done
    [ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ] \
        || ls /usr/include/*/cblas.h >/dev/null 2>&1 || { echo "missing cblas.h"; return 1; }
    command -v tmux >/dev/null || { echo "missing tmux"; return 1; }
    command -v mpicc >/dev/null && command -v mpirun >/dev/null || { echo "missing mpicc/mpirun"; return 1; }
}
case "${1:-check}" in
check) have_all ;;
install)
    have_all >/dev/null 2>&1 && exit 0
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "installing build dependencies: $PKGS"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PKGS >/dev/null
    have_all ;;
*) echo "usage: $0 check|install" >&2; exit 2 ;;
esac
