#!/usr/bin/env bash
# Build a Debian bookworm arm64 root filesystem with python3, as a plain tar.
#
# The result is a cached test artifact, shared by the benchmark tarball and
# the integration test that runs `python3 -m http.server` in an arm64 image.
# The second debootstrap stage runs under QEMU (binfmt qemu-aarch64), so this
# takes a few minutes; it is skipped when the tar already exists.
#
# Usage: bench/make_python_root.sh [OUTPUT_TAR]
# Needs root, debootstrap, and qemu-aarch64 registered in binfmt_misc.
# The only network source used is the Debian mirror configured for apt.
set -euo pipefail

CACHE_DIR=${SITEPROOF_TEST_CACHE:-/var/cache/siteproof-tests}
OUT=${1:-$CACHE_DIR/python-root-arm64.tar}
SUITE=bookworm

log() { printf 'make_python_root: %s\n' "$*" >&2; }

# Print the first Debian mirror URI that apt uses for $SUITE.
find_mirror() {
    local uri
    uri=$(awk -v suite="$SUITE" '
        /^URIs:/ { uris = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = uris }
        /^$/ { uris = "" }
        END { print found }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [[ -z $uri && -f /etc/apt/sources.list ]]; then
        uri=$(awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' \
            /etc/apt/sources.list)
    fi
    [[ -n $uri ]] || { log "no apt source for $SUITE found"; return 1; }
    printf '%s\n' "$uri"
}

# Unmount whatever debootstrap left mounted below $1, deepest first.
unmount_below() {
    local mnt
    findmnt -rn -o TARGET | awk -v root="$1" 'index($0, root) == 1' | sort -r |
        while read -r mnt; do umount -l "$mnt" || true; done
}

build() {
    local work=$1 mirror root
    mirror=$(find_mirror)
    root=$work/root
    log "debootstrap arm64 $SUITE from $mirror into $root"
    debootstrap --arch=arm64 --variant=minbase --include=python3 \
        "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        return 1
    }
    unmount_below "$root"
    # Shrink: downloaded debs and apt lists are not part of a delivered image.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/var/log/* "$root"/debootstrap
    chroot "$root" /usr/bin/python3 -c 'import http.server, platform; print(platform.machine())' >&2
    tar -C "$root" --numeric-owner --sort=name -cf "$work/root.tar" .
    mv "$work/root.tar" "$OUT"
}

main() {
    mkdir -p "$(dirname "$OUT")"
    exec 9>"$OUT.lock"
    flock 9
    if [[ -s $OUT ]]; then
        log "present: $OUT"
        return 0
    fi
    local work start
    work=$(mktemp -d "$(dirname "$OUT")/python-root.XXXXXX")
    trap 'unmount_below "'"$work"'"; rm -rf --one-file-system "'"$work"'"' EXIT
    start=$SECONDS
    build "$work"
    log "built $OUT ($(du -h "$OUT" | cut -f1)) in $((SECONDS - start)) s"
}

main "$@"
