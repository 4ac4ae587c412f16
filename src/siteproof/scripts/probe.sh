#!/bin/sh
# siteproof site probe: describe this server in a site.toml for siteproof.
#
# Run it once on the customer's server, as root or as a member of the
# docker group:
#
#     sh probe.sh [OUTPUT]     (default: ./site.toml; "-" prints it)
#
# It only reads local facts: it contacts nothing (whether the internet is
# reachable comes from the routing table), installs nothing, and changes
# nothing. Copy the written file back and pass it to siteproof: --site FILE.
set -u
set -f  # no globbing: values such as [::1]:80:80 stay as they are

CONTAINER=@CONTAINER@
OUT=${1:-site.toml}

# Print a line as it is (dash's echo would interpret backslashes).
line() {
    printf '%s\n' "$*"
}

die() {
    printf 'probe: %s\n' "$*" >&2
    exit 1
}

# A TOML basic string.
quote() {
    printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\010\012-\037' \
        | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# A TOML array of the words in $1.
words() {
    sep=""
    printf '['
    for word in $1; do
        printf '%s%s' "$sep" "$(quote "$word")"
        sep=", "
    done
    printf ']'
}

platform() {
    p=$(docker version --format '{{.Server.Os}}/{{.Server.Arch}}' 2>/dev/null)
    case $p in
        */?*) printf '%s' "$p"; return ;;
    esac
    case $(uname -m) in
        aarch64 | arm64) printf 'linux/arm64' ;;
        x86_64 | amd64) printf 'linux/amd64' ;;
        armv7l | armhf) printf 'linux/arm/v7' ;;
        loongarch64) printf 'linux/loong64' ;;
        *) printf 'linux/%s' "$(uname -m)" ;;
    esac
}

page_size() {
    bytes=$(getconf PAGESIZE 2>/dev/null || getconf PAGE_SIZE)
    printf '%sk' "$((bytes / 1024))"
}

cgroup() {
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo v2; else echo v1; fi
}

selinux() {
    state=""
    if command -v getenforce >/dev/null 2>&1; then
        state=$(getenforce 2>/dev/null | tr 'A-Z' 'a-z')
    elif [ -r /sys/fs/selinux/enforce ]; then
        case $(cat /sys/fs/selinux/enforce) in
            1) state=enforcing ;;
            *) state=permissive ;;
        esac
    fi
    case $state in
        enforcing | permissive) echo "$state" ;;
        *) echo disabled ;;
    esac
}

cpu_model() {
    model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
    if [ -z "$model" ]; then
        model=$(grep -m 1 -E '^(model name|Hardware|CPU part)' /proc/cpuinfo \
            | cut -d: -f2- | sed 's/^[[:space:]]*//')
    fi
    printf '%s' "$model"
}

cpu_features() {
    grep -m 1 -E '^(flags|Features)' /proc/cpuinfo | cut -d: -f2-
}

# Offline means no default route, IPv4 or IPv6 (read from /proc, no packet
# is sent). A default route may still end at a firewall; then say so by hand.
offline() {
    if awk 'NR > 1 && $2 == "00000000" && $8 == "00000000" { found = 1 }
            END { exit !found }' /proc/net/route 2>/dev/null; then
        echo false
    elif awk '$1 ~ /^0+$/ && $2 == "00" && $10 != "lo" { found = 1 }
              END { exit !found }' /proc/net/ipv6_route 2>/dev/null; then
        echo false
    else
        echo true
    fi
}

container() {
    docker inspect --type container --format "$1" "$CONTAINER"
}

image() {
    docker inspect --type image --format "$1" "$IMAGE_ID"
}

ports() {
    container '{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}}|{{.HostPort}}|{{$p}}{{println}}{{end}}{{end}}' |
        while IFS='|' read -r ip host_port port; do
            [ -n "$port" ] || continue
            port=${port%/tcp}
            [ -n "$host_port" ] && port="$host_port:$port"
            case $ip in
                "") ;;
                *:*) port="[$ip]:$port" ;;
                *) port="$ip:$port" ;;
            esac
            printf '%s\n' "$port"
        done
}

# The container's environment minus what the image sets itself.
env_table() {
    env_list='{{range .Config.Env}}{{json .}}{{println}}{{end}}'
    image "$env_list" >"$WORK/image-env"
    container "$env_list" | grep -vxF -f "$WORK/image-env" | grep '^"[^=]*=' |
        sed 's/^"\([^=]*\)=/"\1" = "/' |
        awk 'NR > 1 { printf ", " } { printf "%s", $0 }'
}

# Print "key = value" when the container differs from its image there.
differing() {
    mine=$(container "{{json $2}}")
    theirs=$(image "{{json $2}}")
    if [ "$mine" != "$theirs" ]; then
        case $mine in
            null) [ "$1" = entrypoint ] && line "$1 = []" ;;
            *) line "$1 = $mine" ;;
        esac
    fi
}

run_table() {
    docker inspect --type container "$CONTAINER" >/dev/null 2>&1 ||
        die "no container named $CONTAINER (docker ps lists the running ones)"
    [ "$(container '{{.State.Running}}')" = true ] ||
        die "container $CONTAINER is not running; start it, then probe again"
    IMAGE_ID=$(container '{{.Image}}')
    echo
    line "# How container $CONTAINER runs here now (docker inspect)."
    echo "[run]"
    line "image = $(container '{{json .Config.Image}}')"
    ports=$(ports)
    [ -n "$ports" ] && line "ports = $(words "$ports")"
    env=$(env_table)
    [ -n "$env" ] && line "env = { $env }"
    binds=$(container '{{json .HostConfig.Binds}}')
    case $binds in
        null | "[]") ;;
        *) line "volumes = $binds" ;;
    esac
    differing user .Config.User
    differing workdir .Config.WorkingDir
    differing entrypoint .Config.Entrypoint
    differing command .Config.Cmd
    restart=$(container '{{.HostConfig.RestartPolicy.Name}}')
    [ -n "$restart" ] && line "restart = $(quote "$restart")"
    return 0
}

site_table() {
    line "# Site profile written by siteproof site probe on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "# Check it, then pass it to siteproof with --site."
    echo
    echo "[site]"
    line "platform = $(quote "$(platform)")"
    line "docker = $(quote "$DOCKER")"
    line "storage_driver = $(quote "$(docker info --format '{{.Driver}}' 2>/dev/null)")"
    line "kernel = $(quote "$(uname -r)")"
    line "page_size = $(quote "$(page_size)")"
    line "cgroup = $(quote "$(cgroup)")"
    line "selinux = $(quote "$(selinux)")"
    line "offline = $(offline)"
    line "cpu_model = $(quote "$(cpu_model)")"
    line "cpu_features = $(words "$(cpu_features)")"
}

command -v docker >/dev/null 2>&1 || die "this server has no docker command"
DOCKER=$(docker version --format '{{.Server.Version}}' 2>/dev/null)
[ -n "$DOCKER" ] ||
    die "the Docker engine does not answer (run as root, or start it: systemctl start docker)"

WORK=$(mktemp -d 2>/dev/null) || die "cannot create a temporary folder"
trap 'rm -rf "$WORK"' EXIT
site_table >"$WORK/site.toml" || die "could not read the site's facts"
if [ -n "$CONTAINER" ]; then
    run_table >>"$WORK/site.toml" || exit 1
fi

if [ "$OUT" = - ]; then
    cat "$WORK/site.toml"
else
    cp "$WORK/site.toml" "$OUT" || die "cannot write $OUT"
    printf 'probe: wrote %s (%s, Docker %s, %s pages, cgroup %s, offline %s)\n' \
        "$OUT" "$(platform)" "$DOCKER" "$(page_size)" "$(cgroup)" "$(offline)" >&2
fi
