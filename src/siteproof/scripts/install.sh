#!/bin/sh
# Install the verified image on this server: check the files, join the
# parts, then run exactly the docker load and docker run that siteproof
# verified. Run it from anywhere, as root or as a member of the docker group:
#
#     sh install.sh
#
# REPLACE=1 first removes a running container of the same name (an update).
# SITEPROOF_WORKDIR is where split parts are joined (default /var/tmp).
set -eu

# --- written by siteproof bundle -----------------------------------------
@SETTINGS@
# -------------------------------------------------------------------------

say() {
    printf 'install: %s\n' "$*"
}

die() {
    printf 'install: %s\n' "$*" >&2
    exit 1
}

check_sums() {
    command -v sha256sum >/dev/null 2>&1 || die "this server has no sha256sum"
    say "checking every file against SHA256SUMS"
    if ! result=$(sha256sum -c SHA256SUMS 2>&1); then
        printf '%s\n' "$result" | grep -v ': OK$' >&2
        die "the delivery is damaged or incomplete; copy it again"
    fi
}

check_engine() {
    command -v docker >/dev/null 2>&1 || die "this server has no docker command"
    docker version >/dev/null 2>&1 ||
        die "the Docker engine does not answer (run as root, or: systemctl start docker)"
    if docker inspect --type container "$NAME" >/dev/null 2>&1 &&
        [ "${REPLACE:-0}" != 1 ]; then
        die "a container named $NAME exists already; to replace it: REPLACE=1 sh install.sh"
    fi
}

# Join the parts into a scratch folder; print the joined tarball's path.
join_parts() {
    work=$(mktemp -d "${SITEPROOF_WORKDIR:-/var/tmp}/siteproof.XXXXXX") ||
        die "cannot create a folder in ${SITEPROOF_WORKDIR:-/var/tmp}"
    JOINED_DIR=$work
    say "joining $(printf '%s\n' $PARTS | wc -l | tr -d ' ') parts into $work/$TARBALL"
    # shellcheck disable=SC2086 # part names have no spaces
    cat $PARTS >"$work/$TARBALL" || die "cannot join the parts (is $work full?)"
    actual=$(sha256sum "$work/$TARBALL" | cut -d ' ' -f 1)
    [ "$actual" = "$TARBALL_SHA256" ] ||
        die "the joined tarball has sha256 $actual, expected $TARBALL_SHA256"
}

cleanup() {
    if [ -n "$JOINED_DIR" ]; then
        rm -rf "$JOINED_DIR"
    fi
}

JOINED_DIR=""
trap cleanup EXIT
cd "$(dirname "$0")"
check_sums
check_engine
tarball=$TARBALL
if [ -n "$PARTS" ]; then
    join_parts
    tarball=$JOINED_DIR/$TARBALL
fi

say "docker load -i $tarball"
docker load -i "$tarball"
if docker inspect --type container "$NAME" >/dev/null 2>&1; then
    say "removing the old container $NAME (REPLACE=1)"
    docker rm -f "$NAME" >/dev/null
fi
say "$RUN_TEXT"
run_container
say "started; see it with: docker ps --filter name=$NAME; docker logs $NAME"
