# shellcheck shell=bash disable=SC2034
# (SC2034: the constants and arrays here are used by the scripts that source this file)
# Shared functions of scripts/engines/*.sh: paths, logging, process and mount handling, and
# the one implementation of how each private engine is started, probed and stopped.
# Sourced, never run. Everything lives under ONE run folder ($RUN) and one download cache
# ($CACHE); nothing here touches the system's own Docker, Podman or containerd.

set -euo pipefail

ENGINES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${WHALEWATCHER_RUN_DIR:-/var/lib/whalewatcher-test}
RUN=${RUN%/}
case $RUN in /*) ;; *) RUN=$PWD/$RUN ;; esac # daemons start from /: the run folder must be absolute
CACHE=${WHALEWATCHER_CACHE_DIR:-/var/cache/whalewatcher}
CACHE=${CACHE%/}
ALL_ENGINES=(docker podman containerd containerd16 remote docker26)

# Debian's own binaries only: the daemons must not pick up other builds from /usr/local.
SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin
CTRD17_BIN=$CACHE/containerd17/usr/bin
CTR17=$CTRD17_BIN/ctr
CTR16=/usr/bin/ctr
PODMAN=/usr/bin/podman
IMAGE_TAR=$RUN/images/busybox-local.tar
IMAGE_DOCKER=busybox:local
IMAGE_PODMAN=localhost/busybox:local
IMAGE_CTR=docker.io/library/busybox:local
# Docker Engine 26 (Debian 13's docker.io), unpacked into the cache; it runs bookworm's containerd 1.6 and runc.
DOCKER26_DIR=$CACHE/docker26
CTR_NAMESPACES=(default k8s.io ww-test)
CTR16_NAMESPACES=(k8s.io)

# The Docker client: the one of the docker.io package if present, else any on PATH.
docker_cli() {
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker || echo docker; fi
}

# Client-side settings of the caller must not redirect our CLI calls elsewhere.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH CONTAINERD_ADDRESS CONTAINERD_NAMESPACE

say() { printf '[engines] %s\n' "$*"; }
warn() { printf '[engines] WARNING: %s\n' "$*" >&2; }
die() { printf '[engines] ERROR: %s\n' "$*" >&2; exit 1; }

# Prints the last lines of a log file, indented, to stderr.
tail_log() {
  local file=$1 n=${2:-40}
  if [ -s "$file" ]; then
    printf '[engines] ---- last %s lines of %s ----\n' "$n" "$file" >&2
    tail -n "$n" "$file" | sed 's/^/    /' >&2
    printf '[engines] ---- end of %s ----\n' "$file" >&2
  else
    printf '[engines] (log %s is empty or missing)\n' "$file" >&2
  fi
}

check_run_dir() {
  case $RUN in /*) ;; *) die "WHALEWATCHER_RUN_DIR must be an absolute path (got '$RUN')" ;; esac
  case $RUN in /) die "WHALEWATCHER_RUN_DIR must not be /" ;; esac
  # The longest socket below RUN is docker26's managed containerd ttrpc socket (RUN + 47
  # characters); unix socket paths must stay under 108 bytes, and we keep a margin.
  if [ $((${#RUN} + 47)) -ge 100 ]; then
    die "run folder '$RUN' is too long for unix socket paths (keep it under 53 characters)"
  fi
}

engine_valid() {
  case $1 in docker | podman | containerd | containerd16 | remote | docker26) return 0 ;; *) return 1 ;; esac
}

# Appends the engines of a comma-separated LIST to the array SELECTED, or dies naming a wrong one.
select_engines() { # LIST
  local -a names
  local n
  IFS=, read -r -a names <<<"$1"
  for n in "${names[@]}"; do
    engine_valid "$n" || die "unknown engine '$n' (${ALL_ENGINES[*]})"
    SELECTED+=("$n")
  done
}

engine_dir() { echo "$RUN/$1"; }
engine_socket() { echo "$RUN/$1.sock"; }
engine_log() {
  case $1 in
    docker | remote | docker26) echo "$RUN/$1/dockerd.log" ;;
    *) echo "$RUN/$1/$1.log" ;;
  esac
}
engine_pidfile() {
  case $1 in
    docker | remote | docker26) echo "$RUN/$1/dockerd.pid" ;;
    *) echo "$RUN/$1/$1.pid" ;;
  esac
}
# Substrings that appear in the command line of every process an engine runs (daemon, its
# managed containerd, shims, conmon, runc), and in the mount table of its containers.
# "RUN/containerd/" is no prefix of "RUN/containerd16/", nor "RUN/containerd.sock" of
# "RUN/containerd16.sock", so the patterns of two engines never overlap.
engine_patterns() { printf '%s\n' "$RUN/$1/" "$RUN/$1.sock"; }

podman_args() {
  local p=$RUN/podman
  printf '%s\n' --root "$p/storage" --runroot "$p/run" --tmpdir "$p/tmp" --storage-driver overlay
}
podman_env() {
  printf '%s\n' "CONTAINERS_CONF=$RUN/podman/containers.conf" \
    "CONTAINERS_STORAGE_CONF=$RUN/podman/storage.conf"
}
# The podman command line on the private instance's storage, as an array: PODMAN_CMD.
PODMAN_CMD=()
podman_cmd() {
  local -a args=() env=()
  mapfile -t args < <(podman_args)
  mapfile -t env < <(podman_env)
  PODMAN_CMD=(env "${env[@]}" PATH="$SYS_PATH" "$PODMAN" "${args[@]}")
}

# ---------------------------------------------------------------------------------------
# processes

pid_alive() { # PID: exists and is not a zombie
  local pid=$1 stat rest
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  rest=${stat##*) }
  [ "${rest%% *}" != Z ]
}

# True when PID's command line contains STRING.
pid_cmdline_has() {
  local pid=$1 needle=$2 arg
  local -a args=()
  { mapfile -d '' -t args <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
  for arg in "${args[@]}"; do
    [[ $arg == *"$needle"* ]] && return 0
  done
  return 1
}

# Prints the number in a pid file (daemons write it with or without a newline).
read_pidfile() {
  local pid=
  [ -r "$1" ] || return 1
  { read -r pid <"$1" || [ -n "$pid" ]; } 2>/dev/null || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  echo "$pid"
}

# The daemon's PID from its pid file, if that process is alive and really is ours.
engine_daemon_pid() {
  local name=$1 file pid
  file=$(engine_pidfile "$name")
  pid=$(read_pidfile "$file") || return 1
  pid_alive "$pid" && pid_cmdline_has "$pid" "$RUN/$name/" || return 1
  echo "$pid"
}

# Our own PID and ancestors: never signalled, whatever their command line says.
declare -A PROTECTED=()
protect_self() {
  local pid=$$ stat rest
  PROTECTED=()
  PROTECTED[$BASHPID]=1
  while [ -n "$pid" ] && [ "$pid" -gt 1 ] 2>/dev/null; do
    PROTECTED[$pid]=1
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || break
    rest=${stat##*) }
    rest=${rest#* }
    pid=${rest%% *}
  done
}

# Fills PARENT_OF (pid -> ppid) for all live, non-zombie processes.
declare -A PARENT_OF=()
load_process_table() {
  local d stat rest state pid
  PARENT_OF=()
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    { read -r stat <"$d/stat"; } 2>/dev/null || continue
    rest=${stat##*) }
    state=${rest%% *}
    [ "$state" = Z ] && continue
    rest=${rest#* }
    PARENT_OF[$pid]=${rest%% *}
  done
}

# Processes that belong to engine NAME, in two sets:
#   ENGINE_CMD:  whose command line names the engine's folder or socket (daemons, shims,
#                conmon, runc, the supervisor);
#   ENGINE_CTR:  container processes: in another mount namespace, with the engine's folder
#                in their mount table (the rootfs overlay), plus descendants of ENGINE_CMD
#                that are not themselves in ENGINE_CMD.
declare -A ENGINE_CMD=() ENGINE_CTR=()
scan_engine() {
  local name=$1 pid self_ns f changed
  local -a pats=() gargs=() others=()
  ENGINE_CMD=()
  ENGINE_CTR=()
  load_process_table
  mapfile -t pats < <(engine_patterns "$name")
  for f in "${pats[@]}"; do gargs+=(-e "$f"); done
  while read -r f; do
    pid=${f#/proc/}
    pid=${pid%%/*}
    [ -n "${PARENT_OF[$pid]:-}" ] || continue
    [ -n "${PROTECTED[$pid]:-}" ] && continue
    is_engine_program "$pid" || continue
    ENGINE_CMD[$pid]=1
  done < <(grep -a -l -F "${gargs[@]}" /proc/[0-9]*/cmdline 2>/dev/null || true)

  self_ns=$(stat -L -c %i /proc/self/ns/mnt)
  mapfile -t others < <(stat -L -c '%i %n' /proc/[0-9]*/ns/mnt 2>/dev/null |
    awk -v s="$self_ns" '$1 != s { split($2, a, "/"); print "/proc/" a[3] "/mountinfo" }' || true)
  if [ ${#others[@]} -gt 0 ]; then
    while read -r f; do
      pid=${f#/proc/}
      pid=${pid%%/*}
      [ -n "${PARENT_OF[$pid]:-}" ] || continue
      [ -n "${ENGINE_CMD[$pid]:-}" ] && continue
      [ -n "${PROTECTED[$pid]:-}" ] && continue
      ENGINE_CTR[$pid]=1
    done < <(grep -l -F -e "$RUN/$name/" "${others[@]}" 2>/dev/null || true)
  fi

  changed=1
  while [ $changed = 1 ]; do
    changed=0
    for pid in "${!PARENT_OF[@]}"; do
      [ -n "${ENGINE_CMD[$pid]:-}${ENGINE_CTR[$pid]:-}${PROTECTED[$pid]:-}" ] && continue
      f=${PARENT_OF[$pid]}
      if [ -n "${ENGINE_CMD[$f]:-}${ENGINE_CTR[$f]:-}" ]; then
        ENGINE_CTR[$pid]=1
        changed=1
      fi
    done
  done
}

# The supervisor, from this checkout or any other (a CI clone meets an older run's).
is_supervisor() {
  local -a args=()
  { mapfile -d '' -t args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
  [ ${#args[@]} -ge 2 ] && [[ ${args[0]##*/} == perl* ]] && [[ ${args[1]} == */supervise.pl ]]
}

# Only the programs an engine runs count as engine processes: never an editor, a `tail -f`
# of a log or a shell whose command line happens to name the run folder.
is_engine_program() {
  local -a args=()
  { mapfile -d '' -t args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
  [ ${#args[@]} -ge 1 ] || return 1
  case ${args[0]##*/} in
    dockerd | containerd | containerd-shim* | runc | conmon | podman | docker-proxy | ctr | catatonit | sshd) return 0 ;;
    perl*) is_supervisor "$1" ;;
    *) return 1 ;;
  esac
}

# Thaws the freezer cgroups of the given processes (a frozen task cannot die) and remembers
# their cgroup folders in THAWED_CGROUPS so they can be removed once empty.
THAWED_CGROUPS=()
thaw_pids() {
  local pid line path
  for pid in "$@"; do
    while IFS= read -r line; do
      case $line in
        *:freezer:*)
          path=/sys/fs/cgroup/freezer${line#*:freezer:}
          if [ -w "$path/freezer.state" ]; then
            echo THAWED >"$path/freezer.state" 2>/dev/null || true
          fi
          ;;
        0::*)
          path=/sys/fs/cgroup${line#0::}
          if [ -w "$path/cgroup.freeze" ]; then
            echo 0 >"$path/cgroup.freeze" 2>/dev/null || true
          fi
          ;;
      esac
      case $line in
        *::/ | *:/ | *:/init.scope) ;;
        *) THAWED_CGROUPS+=("$line") ;;
      esac
    done < <(cat "/proc/$pid/cgroup" 2>/dev/null || true)
  done
}

# Removes the (now empty) cgroup folders that thaw_pids remembered. Best effort.
remove_empty_cgroups() {
  local line ctrls rel c
  for line in "${THAWED_CGROUPS[@]}"; do
    ctrls=${line#*:}
    rel=${ctrls#*:}
    ctrls=${ctrls%%:*}
    if [ -z "$ctrls" ]; then
      rmdir "/sys/fs/cgroup$rel" 2>/dev/null || true
    else
      for c in ${ctrls//,/ }; do
        c=${c#name=}
        rmdir "/sys/fs/cgroup/$c$rel" 2>/dev/null || true
      done
    fi
  done
  THAWED_CGROUPS=()
}

# Waits until none of the given PIDs is alive; returns 1 on timeout.
wait_gone() {
  local deadline=$1 pid alive
  shift
  deadline=$((SECONDS + deadline))
  while :; do
    alive=0
    for pid in "$@"; do pid_alive "$pid" && alive=1 && break; done
    [ $alive = 0 ] && return 0
    [ $SECONDS -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

alive_of() {
  local pid
  for pid in "$@"; do pid_alive "$pid" && echo "$pid"; done
  return 0
}

# Sends SIGTERM, waits up to SECONDS, then SIGKILL and waits again.
term_then_kill() {
  local secs=$1 pid
  shift
  local -a left=()
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  wait_gone "$secs" "$@" && return 0
  mapfile -t left < <(alive_of "$@")
  [ ${#left[@]} -gt 0 ] || return 0
  kill -KILL "${left[@]}" 2>/dev/null || true
  wait_gone 10 "${left[@]}"
}

kill_now() {
  [ $# -gt 0 ] || return 0
  thaw_pids "$@"
  kill -KILL "$@" 2>/dev/null || true
  wait_gone 10 "$@" || true
}

# Container processes of NAME whose every ancestor is outside the engine: their shim or conmon
# is gone (a killed run), so no engine can ever manage them again. They are killed.
reap_orphans() {
  local name=$1 pid p owned
  local -a orphans=()
  scan_engine "$name"
  for pid in "${!ENGINE_CTR[@]}"; do
    owned=0
    p=${PARENT_OF[$pid]:-}
    while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null; do
      # A supervisor adopts orphans; that does not make them manageable.
      if [ -n "${ENGINE_CMD[$p]:-}" ] && ! is_supervisor "$p"; then owned=1; break; fi
      p=${PARENT_OF[$p]:-}
    done
    [ $owned = 0 ] && orphans+=("$pid")
  done
  if [ ${#orphans[@]} -gt 0 ]; then
    say "$name: killing ${#orphans[@]} orphaned container process(es) of an earlier run"
    kill_now "${orphans[@]}"
    remove_empty_cgroups
  fi
}

# ---------------------------------------------------------------------------------------
# mounts

mounts_under() { # DIR: mount points below DIR, deepest first
  awk -v d="$1/" '{ mp = $5; gsub(/\\040/, " ", mp); if (index(mp, d) == 1) print length(mp) "\t" mp }' \
    /proc/self/mountinfo | sort -rn -k1,1 | cut -f2- | uniq
}

unmount_under() {
  local dir=$1 mp
  local -a mps=()
  for _ in 1 2 3 4 5; do
    mapfile -t mps < <(mounts_under "$dir")
    [ ${#mps[@]} -gt 0 ] || return 0
    for mp in "${mps[@]}"; do
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done
  done
  mapfile -t mps < <(mounts_under "$dir")
  if [ ${#mps[@]} -gt 0 ]; then
    warn "still mounted under $dir: ${mps[*]}"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------
# probes: does the engine answer (not merely: does its socket exist)

probe() {
  local name=$1 sock
  sock=$(engine_socket "$name")
  [ -S "$sock" ] || return 1
  case $name in
    docker | podman | docker26)
      timeout -k 2 10 "$(docker_cli)" -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1
      ;;
    containerd)
      [ -x "$CTR17" ] || return 1
      timeout -k 2 10 "$CTR17" --address "$sock" version >/dev/null 2>&1
      ;;
    containerd16)
      [ -x "$CTR16" ] || return 1
      timeout -k 2 10 "$CTR16" --address "$sock" version >/dev/null 2>&1
      ;;
    remote) probe_remote ;;
  esac
}

# ---------------------------------------------------------------------------------------
# stopping

# Stops everything of engine NAME: container processes (SIGKILL, after thawing paused ones),
# then the daemon (SIGTERM, then SIGKILL), then whatever is left (shims, conmon, dockerd's
# containerd: SIGTERM, then SIGKILL); unmounts what is mounted below its folder and removes
# its socket and pid files. Returns 1 if something could not be removed.
stop_engine() {
  local name=$1 pid daemon rc=0 sock
  local -a pids=() sups=() left=()
  scan_engine "$name"
  if [ ${#ENGINE_CTR[@]} -gt 0 ]; then
    kill_now "${!ENGINE_CTR[@]}"
  fi
  if daemon=$(engine_daemon_pid "$name"); then
    term_then_kill 20 "$daemon" || true
  fi
  scan_engine "$name"
  for pid in "${!ENGINE_CMD[@]}"; do
    if is_supervisor "$pid"; then sups+=("$pid"); else pids+=("$pid"); fi
  done
  [ ${#pids[@]} -gt 0 ] && { term_then_kill 5 "${pids[@]}" || true; }
  [ ${#ENGINE_CTR[@]} -gt 0 ] && kill_now "${!ENGINE_CTR[@]}"
  # The supervisors leave by themselves once nothing is left below them.
  if [ ${#sups[@]} -gt 0 ] && ! wait_gone 5 "${sups[@]}"; then
    mapfile -t left < <(alive_of "${sups[@]}")
    if [ ${#left[@]} -gt 0 ]; then kill -KILL "${left[@]}" 2>/dev/null || true; fi
  fi
  remove_empty_cgroups
  scan_engine "$name"
  if [ $((${#ENGINE_CMD[@]} + ${#ENGINE_CTR[@]})) -gt 0 ]; then
    warn "$name: processes still alive after SIGKILL: ${!ENGINE_CMD[*]} ${!ENGINE_CTR[*]}"
    rc=1
  fi
  if [ -d "$RUN/$name" ]; then
    unmount_under "$RUN/$name" || rc=1
  fi
  sock=$(engine_socket "$name")
  rm -f "$sock" "$sock.ttrpc" "$(engine_pidfile "$name")"
  if [ -d "$RUN/$name" ]; then
    find "$RUN/$name" -xdev -type s -delete 2>/dev/null || true
  fi
  if [ "$name" = docker ] || [ "$name" = remote ] || [ "$name" = docker26 ]; then
    rm -f "$RUN/$name/exec/containerd/containerd.pid" "$RUN/$name/containerd.pid"
  fi
  if [ "$name" = remote ]; then rm -f "$(remote_sshd_pidfile)"; fi
  return $rc
}

# ---------------------------------------------------------------------------------------
# the test image in containerd namespaces

ctr_for() { # ENGINE: the ctr binary that matches the engine's version
  case $1 in containerd) echo "$CTR17" ;; containerd16) echo "$CTR16" ;; *) return 1 ;; esac
}

# Imports the test image (docker.io/library/busybox:local) into NAMESPACE of ENGINE
# (containerd or containerd16) unless it is there already.
import_into_namespace() {
  local engine=$1 ns=$2 ctr sock out stamp
  ctr=$(ctr_for "$engine")
  sock=$(engine_socket "$engine")
  stamp=$RUN/$engine/image-$ns.id
  [ -r "$IMAGE_TAR" ] || die "the image archive $IMAGE_TAR is missing: run scripts/engines/up.sh first"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$(cat "$IMAGE_TAR.id" 2>/dev/null)" ] &&
    timeout -k 2 20 "$ctr" --address "$sock" -n "$ns" images ls -q 2>/dev/null | grep -qxF "$IMAGE_CTR"; then
    return 0
  fi
  if ! out=$(timeout -k 2 120 "$ctr" --address "$sock" -n "$ns" images import "$IMAGE_TAR" 2>&1); then
    printf '%s\n' "$out" >&2
    die "$engine: importing $IMAGE_TAR into namespace '$ns' failed"
  fi
  cp "$IMAGE_TAR.id" "$stamp" 2>/dev/null || true
  say "$engine: imported $IMAGE_CTR into namespace $ns"
}

# ---------------------------------------------------------------------------------------
# the "remote" engine: a second private dockerd, reached as a remote Docker would be: over
# tcp://127.0.0.1:PORT with mutual TLS (its own CA), and over SSH through a private sshd whose
# sessions run `docker system dial-stdio` against that dockerd. Its files, below RUN/remote/:
#   certs/      ca.pem cert.pem key.pem: the client's folder in the DOCKER_CERT_PATH layout
#   wrong-ca/   ca.pem of an unrelated CA, and cert.pem/key.pem of a client that CA signed
#   tls/        the CA's key and the server's certificate and key (serverAuth, 127.0.0.1, localhost)
#   ssh/        id_ed25519(.pub) (the client key), known_hosts, known_hosts_changed (another key)
#   sshd/       sshd_config, host key, authorized_keys, sshd.log, sshd.pid
#   ports       TLS_PORT=… SSH_PORT=…: kept across restarts while free
# Ports: $WHALEWATCHER_REMOTE_TLS_PORT / $WHALEWATCHER_REMOTE_SSH_PORT, else free ports the
# kernel picks on first start (so two run folders on one machine never collide).

remote_dir() { echo "$RUN/remote"; }
remote_sshd_pidfile() { echo "$RUN/remote/sshd/sshd.pid"; }

# Reads RUN/remote/ports into TLS_PORT and SSH_PORT (empty when unknown).
remote_ports() {
  TLS_PORT=
  SSH_PORT=
  local f=$RUN/remote/ports line
  [ -r "$f" ] || return 0
  while IFS= read -r line; do
    case $line in
      TLS_PORT=[0-9]*) TLS_PORT=${line#TLS_PORT=} ;;
      SSH_PORT=[0-9]*) SSH_PORT=${line#SSH_PORT=} ;;
    esac
  done <"$f"
}

# True when a TCP PORT on 127.0.0.1 accepts connections.
port_accepts() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# True when the remote engine's dockerd answers through TLS (on the port RUN/remote/ports names).
remote_dockerd_answers() {
  local d=$RUN/remote
  [ -S "$RUN/remote.sock" ] || return 1
  remote_ports
  [ -n "$TLS_PORT" ] || return 1
  timeout -k 2 10 "$(docker_cli)" -H "tcp://127.0.0.1:$TLS_PORT" --tlsverify --tlscacert "$d/certs/ca.pem" \
    --tlscert "$d/certs/cert.pem" --tlskey "$d/certs/key.pem" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# The remote engine answers when its dockerd answers on the unix socket and through TLS, and
# its sshd listens.
probe_remote() {
  local d=$RUN/remote pid
  remote_dockerd_answers || return 1
  [ -n "$SSH_PORT" ] || return 1
  pid=$(read_pidfile "$(remote_sshd_pidfile)") || return 1
  pid_alive "$pid" && pid_cmdline_has "$pid" "$d/" || return 1
  port_accepts "$SSH_PORT"
}
