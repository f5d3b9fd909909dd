#!/usr/bin/env bash
# A Docker engine for the container test (tests/test_container.py), wherever `make test` runs.
#
#   scripts/docker_engine.sh start      prints "existing" when an engine already answers; else, as
#                                       root on Debian, installs docker.io if needed, starts its
#                                       dockerd and prints "started"; else fails saying what to do.
#   scripts/docker_engine.sh stop       stops the dockerd that `start` started.
#   scripts/docker_engine.sh test-base  prints the tag of a local Debian bookworm base image with
#                                       Python 3.11, made once per machine, for engines that
#                                       cannot pull python:3.11-slim (no registry reachable).
set -euo pipefail

PIDFILE=/run/attention-visualizer-dockerd.pid
LOG=/tmp/attention-visualizer-dockerd.log
BASE_TAG=attention-visualizer-test-base:bookworm

fail() {
    echo "docker_engine.sh: $*" >&2
    exit 1
}

answers() {
    docker info >/dev/null 2>&1
}

start() {
    if answers; then
        echo existing
        return
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        fail "no Docker engine answers, and this script can start one only as root on Debian." \
            "Install and start Docker (https://docs.docker.com/engine/install/, or as root on" \
            "Debian: apt-get install -y docker.io), then run the tests again."
    fi
    if ! command -v dockerd >/dev/null; then
        echo "Installing Docker for the container test: apt-get install -y docker.io" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >&2 \
            || fail "'apt-get install -y docker.io' failed; the container test needs a Docker engine."
    fi
    # A dockerd killed without cleaning up leaves its pid file, which stops the next one.
    if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        rm -f "$PIDFILE"
    fi
    setsid dockerd --storage-driver=overlay2 --pidfile "$PIDFILE" >"$LOG" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        if answers; then
            echo started
            return
        fi
        sleep 0.5
    done
    fail "dockerd did not answer within 60 s. Its log ($LOG):"$'\n'"$(tail -n 30 "$LOG")"
}

stop() {
    [ -f "$PIDFILE" ] || return 0
    local pid
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    fail "dockerd (pid $pid) did not stop within 30 s"
}

test_base() {
    if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
        echo "$BASE_TAG"
        return
    fi
    command -v debootstrap >/dev/null || {
        echo "Installing debootstrap for the container test's base image" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
    }
    local root
    root=$(mktemp -d /tmp/attention-visualizer-base.XXXXXX)
    trap 'rm -rf "$root"' RETURN
    echo "Making $BASE_TAG with debootstrap (about 45 s, once per machine)" >&2
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" >&2 \
        || fail "debootstrap of Debian bookworm failed"
    # HTTPS from a build on this machine may pass through a proxy that the machine's own CA
    # certificates vouch for: the test base trusts them, and pip is told to use them. Only this
    # locally made base carries them, never the Dockerfile users get.
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' - "$BASE_TAG" >/dev/null
    echo "$BASE_TAG"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    test-base) test_base ;;
    *) fail "usage: $0 start|stop|test-base" ;;
esac
