#!/usr/bin/env bash
# Crashes one private test engine: SIGKILL to its daemon, nothing else (shims, conmon,
# containers and dockerd's own containerd stay, as after a real crash). For the crash and
# reliability suites; `scripts/engines/up.sh --only NAME` starts it again cleanly.
# Usage: scripts/engines/crash.sh docker|docker26|podman|containerd|containerd16|remote
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
name=${1:-}
engine_valid "$name" || die "usage: crash.sh docker|docker26|podman|containerd|containerd16|remote"
check_run_dir
pid=$(engine_daemon_pid "$name") || die "$name is not running (no live daemon in $(engine_pidfile "$name"))"
kill -KILL "$pid"
wait_gone 10 "$pid" || die "$name (pid $pid) survived SIGKILL"
say "$name: crashed (SIGKILL to pid $pid)"
