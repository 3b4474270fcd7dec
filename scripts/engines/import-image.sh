#!/usr/bin/env bash
# Imports the test image (docker.io/library/busybox:local) into a containerd namespace.
# Usage: scripts/engines/import-image.sh NAMESPACE [containerd|containerd16]
# (default engine: containerd, the 1.7 instance). The engine must be up.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ns=${1:-}
engine=${2:-containerd}
[ -n "$ns" ] || die "usage: import-image.sh NAMESPACE [containerd|containerd16]"
case $engine in containerd | containerd16) ;; *) die "unknown containerd engine '$engine'" ;; esac
check_run_dir
probe "$engine" || die "$engine does not answer on $(engine_socket "$engine"): run npm run engines:up"
import_into_namespace "$engine" "$ns"
