#!/usr/bin/env bash
# cuda-deps.sh [DIR] — unpack the Debian packages mptui builds and tests with into DIR
# (default .cuda-deps/, git-ignored), for a GPU machine that has nvcc but no package registry:
#   scripts/cuda-deps.sh            # here, where apt works
#   make DEPS_PREFIX=$PWD/.cuda-deps ...   # there (scripts/device-check.sh does this)
# apt-get download + dpkg -x: nothing is installed here and no root is needed. Static
# archives and docs are dropped to keep the folder small enough to carry (about 50 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.cuda-deps}"
# -dev packages (headers, .so links) and the runtime libraries they need, minus what every
# machine with a compiler has (libc6, libgcc-s1, libstdc++6, libgomp1, zlib1g). The
# libraries need glibc >= 2.34 (Debian 12, Ubuntu 22.04 and newer).
PKGS="libopenblas-dev libopenblas-pthread-dev libopenblas0 libopenblas0-pthread libgfortran5
      libquadmath0 libcsv-dev libcsv3 libjansson-dev libjansson4 libncurses-dev libncurses6
      libncursesw6 libtinfo6 libcriterion-dev libcriterion3 libnanomsg5 libgit2-1.5
      libhttp-parser2.9 libmbedtls14 libmbedx509-1 libmbedcrypto7 libssh2-1 libboxfort-dev
      libssl3 libffi8 libpcre2-8-0 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
      libkeyutils1 libcom-err2 libpcre2-dev libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
      nettle-dev libnettle8 libhogweed6 libgmp10 libgmp-dev"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
chmod 1777 "$tmp" # apt's _apt user downloads into it
(cd "$tmp" && apt-get download $PKGS >/dev/null)
rm -rf "$dir"
mkdir -p "$dir"
for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dir"; done
rm -rf "$dir/usr/share" "$dir/etc"
find "$dir" -name '*.a' -delete
rm -f "$dir"/usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack* # mptui needs only BLAS
# Debian selects the BLAS through update-alternatives, whose links dpkg -x does not make:
# point the generic names at the pthread OpenBLAS the packages unpacked.
lib="$dir/usr/lib/x86_64-linux-gnu"
ob="$lib/openblas-pthread"
ln -sf openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so.0"
ln -sf openblas-pthread/libopenblas.so "$lib/libopenblas.so"
ln -sf openblas-pthread/cblas.h "$dir/usr/include/x86_64-linux-gnu/cblas.h" 2>/dev/null || true
[ -e "$ob/libopenblas.so" ] || { echo "cuda-deps: no libopenblas.so in $ob" >&2; exit 1; }
for f in csv.h jansson.h pcre2.h nettle/sha2.h criterion/criterion.h ncursesw/curses.h \
         x86_64-linux-gnu/openblas-pthread/cblas.h; do
    [ -e "$dir/usr/include/$f" ] || { echo "cuda-deps: missing $dir/usr/include/$f" >&2; exit 1; }
done
echo "cuda-deps: $(du -sh "$dir" | cut -f1) in $dir"
