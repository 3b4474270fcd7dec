#!/usr/bin/env bash
# Stops the project's private test engines (npm run engines:down).
#
#   scripts/engines/down.sh                  stop all six engines
#   scripts/engines/down.sh --only podman    just these (repeatable; also "a,b")
#   scripts/engines/down.sh --purge          also delete the run folder (images, data roots)
#
# Container processes get SIGKILL (paused ones are thawed first), daemons SIGTERM and then
# SIGKILL, as do shims, conmon and dockerd's own containerd. Everything mounted below the run
# folder is unmounted and the sockets are removed: no process, mount or socket is left. The
# download cache ($WHALEWATCHER_CACHE_DIR) is never touched.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SELECTED=()
PURGE=0
while [ $# -gt 0 ]; do
  case $1 in
    --only)
      [ $# -ge 2 ] || die "--only needs an engine name"
      select_engines "$2"
      shift 2
      ;;
    --purge) PURGE=1; shift ;;
    -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
ALL=0
if [ ${#SELECTED[@]} -eq 0 ]; then SELECTED=("${ALL_ENGINES[@]}"); ALL=1; fi
check_run_dir
[ "$(id -u)" = 0 ] || die "engines:down must run as root"
if [ ! -d "$RUN" ]; then
  say "nothing to stop: $RUN does not exist"
  exit 0
fi

T0=$SECONDS
exec 9>"$RUN/.lock"
flock -w 600 9 || die "another engines:up/down holds $RUN/.lock for 10 minutes"
protect_self

rc=0
for e in "${SELECTED[@]}"; do
  if stop_engine "$e"; then
    say "$e: stopped"
  else
    warn "$e: could not be stopped completely"
    rc=1
  fi
done

if [ $ALL = 1 ]; then
  rm -f "$RUN/env"
  unmount_under "$RUN" || rc=1
  sockets_left=$(find "$RUN" -xdev -type s 2>/dev/null || true)
  if [ -n "$sockets_left" ]; then
    find "$RUN" -xdev -type s -delete 2>/dev/null || true
  fi
  if [ $PURGE = 1 ] && [ $rc = 0 ]; then
    rm -rf "$RUN"
    say "removed $RUN"
  fi
elif [ -f "$RUN/env" ]; then
  # Drop the stopped engines' endpoints from the env file.
  for e in "${SELECTED[@]}"; do
    case $e in
      docker) key='WHALEWATCHER_TEST_DOCKER=' ;;
      docker26) key='WHALEWATCHER_TEST_DOCKER26=' ;;
      podman) key='WHALEWATCHER_TEST_PODMAN=' ;;
      containerd) key='WHALEWATCHER_TEST_\(CONTAINERD\|CRI\)=' ;;
      containerd16) key='WHALEWATCHER_TEST_CRI_NOEVENTS=' ;;
      remote) key='WHALEWATCHER_TEST_DOCKER_\(REMOTE\|TLS\|CERTS\|WRONG_CA\|SSH[A-Z_]*\)=' ;;
    esac
    sed -i "/^$key/d" "$RUN/env"
  done
fi

if [ $rc = 0 ]; then
  say "engines down in $((SECONDS - T0)) s (${SELECTED[*]})"
else
  die "engines:down left something behind (see the warnings above)"
fi
