#!/usr/bin/env bash
# Brings up the project's PRIVATE test engines (npm run engines:up).
#
#   scripts/engines/up.sh                 install what is missing, start all six engines
#   scripts/engines/up.sh --only docker   just this engine (repeatable; also "a,b"); this is
#                                         how the test helpers restart a crashed engine
#   scripts/engines/up.sh --check         install nothing, start nothing: list the engines
#                                         that answer; exit 0 only if all six answer
#
# Engines: docker (dockerd), podman (Docker-compatible service), containerd (1.7 from Debian 13,
# native API + CRI), containerd16 (Debian 12's containerd 1.6, CRI without GetContainerEvents),
# remote (a second dockerd reached over tcp://127.0.0.1 with mutual TLS and over SSH through a
# private sshd; see lib.sh), docker26 (Docker Engine 26 from Debian 13's docker.io, unpacked into the
# cache, managing Debian 12's containerd 1.6 and runc).
# All state lives below ONE run folder, $WHALEWATCHER_RUN_DIR (default /var/lib/whalewatcher-test);
# downloads are cached in $WHALEWATCHER_CACHE_DIR (default /var/cache/whalewatcher).
# An engine that already answers is reused; one that does not is started again after the
# leftovers of an earlier (killed) run are cleaned up. Writes RUN/env (KEY=VALUE lines).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

SELECTED=()
CHECK=0
while [ $# -gt 0 ]; do
  case $1 in
    --only)
      [ $# -ge 2 ] || die "--only needs an engine name"
      select_engines "$2"
      shift 2
      ;;
    --only=*)
      select_engines "${1#--only=}"
      shift
      ;;
    --check) CHECK=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${ALL_ENGINES[@]}")
check_run_dir

if [ $CHECK = 1 ]; then
  all=0
  for e in "${ALL_ENGINES[@]}"; do
    if probe "$e"; then echo "$e"; else all=1; fi
  done
  exit $all
fi

[ "$(id -u)" = 0 ] || die "engines:up must run as root (it installs packages and starts daemons)"

selected() { local e; for e in "${SELECTED[@]}"; do [ "$e" = "$1" ] && return 0; done; return 1; }

T0=$SECONDS
mkdir -p "$RUN" "$CACHE"
exec 9>"$RUN/.lock"
flock -w 600 9 || die "another engines:up/down holds $RUN/.lock for 10 minutes"
protect_self

# ---------------------------------------------------------------------------------------
# installation

pkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

INSTALL_LOG=$CACHE/install.log
apt_run() { # ARGS...: apt-get, output to the install log; on failure the log's tail is shown
  if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 \
    "$@" >>"$INSTALL_LOG" 2>&1; then
    tail_log "$INSTALL_LOG" 30
    return 1
  fi
}

# Keeps package scripts from starting the system's own services (docker.io's postinst would
# start a system dockerd on /var/run/docker.sock) while we install.
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0
block_service_starts() {
  if [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\n# temporary, from whalewatcher scripts/engines/up.sh\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    POLICY_RC_OURS=1
  fi
}
allow_service_starts() {
  if [ $POLICY_RC_OURS = 1 ]; then rm -f "$POLICY_RC"; POLICY_RC_OURS=0; fi
}
trap allow_service_starts EXIT

ensure_packages() {
  local -a missing=() missing_nr=()
  local p
  for p in docker.io runc busybox-static; do pkg_installed "$p" || missing+=("$p"); done
  if selected podman; then pkg_installed podman || missing_nr+=(podman); fi
  if selected remote; then
    for p in openssl openssh-client; do pkg_installed "$p" || missing+=("$p"); done
    pkg_installed openssh-server || missing_nr+=(openssh-server)
  fi
  [ $((${#missing[@]} + ${#missing_nr[@]})) -gt 0 ] || return 0
  [ -r /etc/debian_version ] || die "missing packages (${missing[*]} ${missing_nr[*]}) and this is no Debian system: install them yourself"
  say "installing ${missing[*]} ${missing_nr[*]} with apt-get (log: $INSTALL_LOG)"
  local t=$SECONDS
  : >"$INSTALL_LOG"
  block_service_starts
  apt_run update || die "apt-get update failed"
  if [ ${#missing[@]} -gt 0 ]; then
    apt_run install -y "${missing[@]}" || die "installing ${missing[*]} failed (apt-get install)"
  fi
  if [ ${#missing_nr[@]} -gt 0 ]; then
    apt_run install -y --no-install-recommends "${missing_nr[@]}" ||
      die "installing ${missing_nr[*]} failed (apt-get install --no-install-recommends)"
  fi
  allow_service_starts
  for p in "${missing[@]}" "${missing_nr[@]}"; do
    pkg_installed "$p" || die "package $p is still not installed after apt-get install"
  done
  say "packages installed in $((SECONDS - t)) s"
}

# The Debian mirror the system itself uses, read from its apt sources (never hard-coded).
debian_mirror() {
  local f=/etc/apt/sources.list.d/debian.sources uri=
  if [ -r "$f" ]; then
    uri=$(awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && suites != "" && uri != "") {
          n = split(suites, s, " ")
          for (i = 1; i <= n; i++) if (s[i] !~ /-/) { print uri; found = 1; exit }
        }
        types = ""; suites = ""; uri = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); split($0, u, " "); uri = u[1] }
      END { if (!found) flush() }' "$f")
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) !~ /-/) { print $i; exit } break } }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || return 1
  echo "${uri%/}"
}

# Downloads PACKAGE from Debian 13 "trixie" through a private apt configuration (its own sources
# list, lists and archives below $CACHE/apt; the mirror is the system's own) and unpacks it with
# dpkg -x into DIR (which must not exist yet). Nothing is installed.
trixie_unpack() { # PACKAGE DIR
  local pkg=$1 dir=$2 a=$CACHE/apt mirror deb
  mirror=$(debian_mirror) || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/sources.list.d" "$a/preferences.d" "$a/debs"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg opt=
  [ -r "$keyring" ] && opt="[signed-by=$keyring] "
  printf 'deb %s%s trixie main\n' "$opt" "$mirror" >"$a/sources.list"
  local -a o=(
    -o "Dir::Etc::SourceList=$a/sources.list"
    -o "Dir::Etc::SourceParts=$a/sources.list.d"
    -o "Dir::Etc::Preferences=$a/preferences"
    -o "Dir::Etc::PreferencesParts=$a/preferences.d"
    -o "Dir::State::Lists=$a/lists"
    -o "Dir::Cache=$a/cache"
    -o "Acquire::Languages=none"
    -o "APT::Sandbox::User=root"
  )
  : >>"$INSTALL_LOG"
  apt_run "${o[@]}" update || die "apt-get update of the private trixie source ($a/sources.list) failed"
  rm -f "$a/debs/${pkg}"_*.deb
  (cd "$a/debs" && apt_run "${o[@]}" download "$pkg") || die "apt-get download $pkg (trixie) failed"
  deb=$(find "$a/debs" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
  [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $a/debs"
  rm -rf "$dir"
  dpkg -x "$deb" "$dir" || die "dpkg -x $deb failed"
}

# containerd 1.7 from Debian 13 "trixie", unpacked into the cache (kept: a warm run downloads
# nothing).
ensure_containerd17() {
  local dir=$CACHE/containerd17 version t=$SECONDS
  if [ -f "$dir/.complete" ] && [ -x "$dir/usr/bin/containerd" ]; then return 0; fi
  say "fetching containerd from Debian 13 (trixie) into $dir"
  trixie_unpack containerd "$dir.tmp"
  version=$("$dir.tmp/usr/bin/containerd" --version 2>&1) || die "the trixie containerd does not run here: $version"
  case $version in
    *" 1.7."* | *" v1.7."*) ;;
    *) die "expected containerd 1.7.x from trixie, got: $version" ;;
  esac
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  touch "$dir/.complete"
  say "containerd 1.7 ready in $((SECONDS - t)) s: $version"
}

# Docker Engine 26 (dockerd 26.1.x) from Debian 13's docker.io, unpacked into the cache (kept).
# Its dockerd needs glibc 2.34 at most; it brings docker-init and docker-proxy, and manages
# bookworm's containerd 1.6 and runc (trixie's runc needs glibc 2.38).
ensure_docker26() {
  local dir=$DOCKER26_DIR version t=$SECONDS
  if [ -f "$dir/.complete" ] && [ -x "$dir/usr/sbin/dockerd" ]; then return 0; fi
  say "fetching docker.io from Debian 13 (trixie) into $dir"
  trixie_unpack docker.io "$dir.tmp"
  [ -x "$dir.tmp/usr/sbin/dockerd" ] || die "the trixie docker.io package has no usr/sbin/dockerd"
  version=$("$dir.tmp/usr/sbin/dockerd" --version 2>&1) || die "the trixie dockerd does not run here: $version"
  case $version in
    *" 26."*) ;;
    *) die "expected dockerd 26.x from trixie, got: $version" ;;
  esac
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  touch "$dir/.complete"
  say "docker 26 ready in $((SECONDS - t)) s: $version"
}

# ---------------------------------------------------------------------------------------
# configuration files

write_containerd_config() { # FILE DIR SOCKET WITH_CRI NRI_SECTION
  local file=$1 c=$2 sock=$3 cri=$4 nri=$5
  {
    echo "# written by scripts/engines/up.sh"
    echo "version = 2"
    echo "root = \"$c/root\""
    echo "state = \"$c/state\""
    [ "$cri" = 1 ] || echo 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
    echo "[grpc]"
    echo "  address = \"$sock\""
    echo "[ttrpc]"
    echo "  address = \"$sock.ttrpc\""
    echo "[plugins.\"io.containerd.internal.v1.opt\"]"
    echo "  path = \"$c/opt\""
    if [ "$nri" = 1 ]; then
      echo "[plugins.\"io.containerd.nri.v1.nri\"]"
      echo "  disable = true"
    fi
    if [ "$cri" = 1 ]; then
      cat <<TOML
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$IMAGE_CTR"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$c/runc"
TOML
    fi
  } >"$file.tmp"
  mv "$file.tmp" "$file"
}

write_podman_config() {
  local p=$RUN/podman
  cat >"$p/containers.conf.tmp" <<CONF
# written by scripts/engines/up.sh: the private test instance's settings
[containers]
# the machine lacks CAP_SYS_RESOURCE: without this, containers fail with "error setting rlimit type 7"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "$p/tmp"

[network]
network_config_dir = "$p/networks"
CONF
  mv "$p/containers.conf.tmp" "$p/containers.conf"
  cat >"$p/storage.conf.tmp" <<CONF
# written by scripts/engines/up.sh
[storage]
driver = "overlay"
graphroot = "$p/storage"
runroot = "$p/run"
CONF
  mv "$p/storage.conf.tmp" "$p/storage.conf"
}

# ---------------------------------------------------------------------------------------
# starting

# Runs COMMAND... under the reaping supervisor, detached (own session, no inherited fds),
# output appended to LOG, working folder /. The supervisor writes the daemon's PID to PIDFILE ("-": the daemon
# writes its own).
launch() { # LOG PIDFILE ENV... -- COMMAND...
  local log=$1 pidfile=$2
  shift 2
  local -a env=()
  while [ "$1" != -- ]; do env+=("$1"); shift; done
  shift
  printf '\n==== %s: starting %s\n' "$(date -Is)" "$*" >>"$log"
  # From /: a daemon must not keep (or depend on) the caller's working folder, which a test
  # may delete (Podman's conmon breaks when its inherited working folder is gone).
  env -C / "${env[@]}" setsid perl "$ENGINES_DIR/supervise.pl" "$pidfile" -- "$@" </dev/null >>"$log" 2>&1 9>&- &
}

# Waits until ENGINE answers. Fails loudly: daemon gone (with its log), socket never there,
# or no answer in time.
wait_engine() { # ENGINE SECONDS
  local name=$1 secs=$2 sock log deadline pid=
  sock=$(engine_socket "$name")
  log=$(engine_log "$name")
  deadline=$((SECONDS + secs))
  while :; do
    if probe "$name"; then return 0; fi
    if [ $SECONDS -ge $((deadline - secs + 3)) ] && ! pid=$(engine_daemon_pid "$name"); then
      # give the supervisor a moment to write the pid file, then insist
      sleep 0.5
      if ! pid=$(engine_daemon_pid "$name") && ! probe "$name"; then
        tail_log "$log"
        die "$name did not come up: its daemon exited (log: $log)"
      fi
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail_log "$log"
      if [ ! -S "$sock" ]; then
        die "$name: socket $sock never appeared within $secs s (log: $log)"
      fi
      die "$name: no answer on $sock within $secs s (log: $log)"
    fi
    sleep 0.2
  done
}

# Before (re)starting ENGINE: end a daemon of ours that no longer answers, drop stale pid
# files and sockets, kill container processes whose shim is gone. Running shims (and their
# containers) are left alone: a restarted engine takes them over.
prepare_start() {
  local name=$1 pid f
  if [ "$name" = remote ]; then
    remote_stop_sshd
    # Only the sshd is missing: keep the dockerd (and its containers and TLS port).
    if remote_dockerd_answers; then return 0; fi
  fi
  if pid=$(engine_daemon_pid "$name"); then
    warn "$name (pid $pid) is running but does not answer: killing it (SIGKILL)"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone 10 "$pid" || die "$name: pid $pid did not die after SIGKILL"
  fi
  if [ "$name" = docker ] || [ "$name" = remote ] || [ "$name" = docker26 ]; then
    # dockerd's managed containerd outlives a crashed dockerd for a while and then dies; a
    # dockerd started meanwhile times out waiting for it. End it and drop its pid file.
    f=$RUN/$name/exec/containerd/containerd.pid
    if pid=$(read_pidfile "$f"); then
      if pid_alive "$pid" && pid_cmdline_has "$pid" "$RUN/$name/"; then
        say "$name: ending the managed containerd (pid $pid) of the previous dockerd"
        term_then_kill 5 "$pid" || true
      fi
    fi
    rm -f "$f"
  fi
  rm -f "$(engine_pidfile "$name")" "$(engine_socket "$name")" "$(engine_socket "$name").ttrpc"
  reap_orphans "$name"
  if [ "$name" = podman ]; then podman_reset_runtime_state; fi
}

# Podman keeps container states in its database and trusts them while its tmpdir's "alive"
# file exists; with conmon killed (a killed run) it reports dead containers as running or
# paused forever, and cannot even remove them. When no process of the instance is left, do
# what a reboot does: unmount, empty runroot and tmpdir. Podman then refreshes on start and
# those containers show as exited.
podman_reset_runtime_state() {
  local pid p=$RUN/podman
  scan_engine podman
  [ ${#ENGINE_CTR[@]} -eq 0 ] || return 0
  for pid in "${!ENGINE_CMD[@]}"; do
    is_supervisor "$pid" || return 0
  done
  [ -d "$p/run" ] || [ -d "$p/tmp" ] || return 0
  unmount_under "$p" || { warn "podman: cannot unmount below $p; keeping its runtime state"; return 0; }
  rm -rf "$p/run" "$p/tmp"
  mkdir -p "$p/run" "$p/tmp"
}

# dockerd uses the system's containerd when /run/containerd/containerd.sock exists. If the
# user runs one, our dockerd gets a containerd of its own instead (Debian's 1.6, private).
docker_own_containerd() { # [ENGINE]: docker (default) or remote
  local name=${1:-docker}
  local d=$RUN/$name sock=$RUN/$name/ctrd.sock pidf=$RUN/$name/containerd.pid pid
  if [ -S "$sock" ] && timeout -k 2 10 "$CTR16" --address "$sock" version >/dev/null 2>&1; then
    echo "$sock"
    return 0
  fi
  if pid=$(read_pidfile "$pidf") && pid_alive "$pid" && pid_cmdline_has "$pid" "$d/"; then
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone 10 "$pid" || true
  fi
  rm -f "$sock" "$sock.ttrpc" "$pidf"
  mkdir -p "$d/ctrd/root" "$d/ctrd/state" "$d/ctrd/opt" "$d/tmp"
  write_containerd_config "$d/ctrd/config.toml" "$d/ctrd" "$sock" 0 0
  launch "$d/containerd.log" "$pidf" PATH="$SYS_PATH" TMPDIR="$d/tmp" -- /usr/bin/containerd --config "$d/ctrd/config.toml"
  local deadline=$((SECONDS + 60))
  until timeout -k 2 10 "$CTR16" --address "$sock" version >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      tail_log "$d/containerd.log"
      die "$name: its own containerd did not answer on $sock within 60 s"
    fi
    sleep 0.2
  done
  echo "$sock"
}

start_docker() {
  local d=$RUN/docker
  local -a extra=()
  mkdir -p "$d/data" "$d/exec" "$d/tmp"
  echo "{}" >"$d/daemon.json" # private: none of /etc/docker/daemon.json applies
  if [ -e /run/containerd/containerd.sock ]; then
    say "docker: a system containerd exists; giving our dockerd a private containerd"
    extra=(--containerd "$(docker_own_containerd)")
  fi
  launch "$d/dockerd.log" - PATH="$SYS_PATH" DOCKER_TMPDIR="$d/tmp" -- \
    /usr/sbin/dockerd --config-file "$d/daemon.json" \
    --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
    -H "unix://$RUN/docker.sock" \
    --bridge=none --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
    "${extra[@]}"
}

# Docker Engine 26: the unpacked trixie dockerd, its usr/sbin and usr/bin first on PATH (for
# docker-init and docker-proxy), then Debian 12's (containerd 1.6, runc).
start_docker26() {
  local d=$RUN/docker26
  local -a extra=()
  [ -x "$DOCKER26_DIR/usr/sbin/dockerd" ] || die "docker26: $DOCKER26_DIR/usr/sbin/dockerd is missing"
  mkdir -p "$d/data" "$d/exec" "$d/tmp"
  echo "{}" >"$d/daemon.json"
  if [ -e /run/containerd/containerd.sock ]; then
    say "docker26: a system containerd exists; giving our dockerd a private containerd"
    extra=(--containerd "$(docker_own_containerd docker26)")
  fi
  launch "$d/dockerd.log" - PATH="$DOCKER26_DIR/usr/sbin:$DOCKER26_DIR/usr/bin:$SYS_PATH" DOCKER_TMPDIR="$d/tmp" -- \
    "$DOCKER26_DIR/usr/sbin/dockerd" --config-file "$d/daemon.json" \
    --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
    -H "unix://$RUN/docker26.sock" \
    --bridge=none --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
    "${extra[@]}"
}

start_podman() {
  local p=$RUN/podman
  local -a args=() env=()
  mkdir -p "$p/storage" "$p/run" "$p/tmp" "$p/networks"
  write_podman_config
  mapfile -t args < <(podman_args)
  mapfile -t env < <(podman_env)
  launch "$p/podman.log" "$p/podman.pid" "${env[@]}" PATH="$SYS_PATH" TMPDIR="$p/tmp" -- \
    "$PODMAN" "${args[@]}" system service --time=0 "unix://$RUN/podman.sock"
}

# Free TCP ports on 127.0.0.1 for the remote engine: the configured ones, else those of its
# last start while still free, else new ones the kernel picks. Writes RUN/remote/ports.
remote_choose_ports() { # [keep-tls]: the running dockerd keeps its TLS port
  local d=$RUN/remote keep=${1:-}
  remote_ports
  local kept_tls=$TLS_PORT
  TLS_PORT=${WHALEWATCHER_REMOTE_TLS_PORT:-$TLS_PORT}
  SSH_PORT=${WHALEWATCHER_REMOTE_SSH_PORT:-$SSH_PORT}
  local picked
  # shellcheck disable=SC2016
  picked=$(perl -MIO::Socket::INET -e '
    my @out; my @held;
    for my $want (@ARGV) {
      my $s = $want ? IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => $want, ReuseAddr => 1) : undef;
      $s ||= IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die "no free port: $!\n";
      push @held, $s; push @out, $s->sockport;
    }
    print "@out\n";' "$([ -n "$keep" ] && echo 0 || echo "${TLS_PORT:-0}")" "${SSH_PORT:-0}") || die "remote: cannot find free TCP ports on 127.0.0.1"
  read -r TLS_PORT SSH_PORT <<<"$picked"
  if [ -n "$keep" ]; then TLS_PORT=$kept_tls; fi
  printf 'TLS_PORT=%s\nSSH_PORT=%s\n' "$TLS_PORT" "$SSH_PORT" >"$d/ports"
}

# The TLS material (openssl; EC P-256 keys, quick to make), made once per run folder.
remote_tls_material() {
  local d=$RUN/remote t=$RUN/remote/tls
  [ -s "$t/.complete" ] && [ -s "$d/certs/key.pem" ] && [ -s "$d/wrong-ca/key.pem" ] && return 0
  rm -rf "$t" "$d/certs" "$d/wrong-ca"
  mkdir -p "$t" "$d/certs" "$d/wrong-ca"
  local -a ossl=(openssl)
  local -a key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  {
    # the CA, and an unrelated one
    "${ossl[@]}" req -x509 "${key[@]}" -keyout "$t/ca-key.pem" -out "$t/ca.pem" -days 3650 -subj "/CN=whalewatcher test CA"
    "${ossl[@]}" req -x509 "${key[@]}" -keyout "$t/wrong-ca-key.pem" -out "$t/wrong-ca.pem" -days 3650 -subj "/CN=whalewatcher unrelated CA"
    # the server: 127.0.0.1 and localhost, serverAuth
    "${ossl[@]}" req "${key[@]}" -keyout "$t/server-key.pem" -out "$t/server.csr" -subj "/CN=localhost"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$t/server.ext"
    "${ossl[@]}" x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial \
      -out "$t/server-cert.pem" -days 3650 -extfile "$t/server.ext"
    # clients: clientAuth, one from each CA
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n' >"$t/client.ext"
    "${ossl[@]}" req "${key[@]}" -keyout "$d/certs/key.pem" -out "$t/client.csr" -subj "/CN=whalewatcher client"
    "${ossl[@]}" x509 -req -in "$t/client.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial \
      -out "$d/certs/cert.pem" -days 3650 -extfile "$t/client.ext"
    "${ossl[@]}" req "${key[@]}" -keyout "$d/wrong-ca/key.pem" -out "$t/wrong-client.csr" -subj "/CN=whalewatcher stranger"
    "${ossl[@]}" x509 -req -in "$t/wrong-client.csr" -CA "$t/wrong-ca.pem" -CAkey "$t/wrong-ca-key.pem" -CAcreateserial \
      -out "$d/wrong-ca/cert.pem" -days 3650 -extfile "$t/client.ext"
  } >>"$d/openssl.log" 2>&1 || { tail_log "$d/openssl.log"; die "remote: making the TLS material with openssl failed"; }
  cp "$t/ca.pem" "$d/certs/ca.pem"
  cp "$t/wrong-ca.pem" "$d/wrong-ca/ca.pem"
  chmod 600 "$t"/*-key.pem "$d/certs/key.pem" "$d/wrong-ca/key.pem"
  date -Is >"$t/.complete"
}

# The SSH material: the server's host key, the client's key and authorized_keys (once), and
# known_hosts for the current port (every start): the right host key, and another one.
remote_ssh_material() {
  local d=$RUN/remote s=$RUN/remote/sshd c=$RUN/remote/ssh
  mkdir -p "$s" "$c"
  [ -s "$s/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C whalewatcher-test-host -f "$s/ssh_host_ed25519_key" ||
    die "remote: ssh-keygen (host key) failed"
  [ -s "$s/other_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C whalewatcher-other-host -f "$s/other_host_ed25519_key" ||
    die "remote: ssh-keygen (other host key) failed"
  [ -s "$c/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C whalewatcher-test-client -f "$c/id_ed25519" ||
    die "remote: ssh-keygen (client key) failed"
  cp "$c/id_ed25519.pub" "$s/authorized_keys"
  local host="[127.0.0.1]:$SSH_PORT" key other
  read -r key <"$s/ssh_host_ed25519_key.pub"
  read -r other <"$s/other_host_ed25519_key.pub"
  printf '%s %s\n' "$host" "${key% *}" >"$c/known_hosts"
  printf '%s %s\n' "$host" "${other% *}" >"$c/known_hosts_changed"
  : >"$c/known_hosts_empty"
  cat >"$s/sshd_config.tmp" <<CONF
# written by scripts/engines/up.sh: the remote engine's private sshd
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $s/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
MaxSessions 64
MaxStartups 64:30:128
SetEnv DOCKER_HOST=unix://$RUN/remote.sock PATH=$SYS_PATH
CONF
  mv "$s/sshd_config.tmp" "$s/sshd_config"
}

remote_stop_sshd() {
  local pid
  if pid=$(read_pidfile "$(remote_sshd_pidfile)") && pid_alive "$pid" && pid_cmdline_has "$pid" "$RUN/remote/"; then
    term_then_kill 5 "$pid" || true
  fi
  rm -f "$(remote_sshd_pidfile)"
}

start_remote() {
  local d=$RUN/remote keep=
  local -a extra=()
  mkdir -p "$d/data" "$d/exec" "$d/tmp" /run/sshd
  if remote_dockerd_answers; then keep=1; fi
  remote_choose_ports $keep
  remote_tls_material
  remote_ssh_material
  if [ -n "$keep" ]; then
    say "remote: its dockerd answers; starting its sshd only"
    remote_start_sshd
    return 0
  fi
  echo "{}" >"$d/daemon.json"
  if [ -e /run/containerd/containerd.sock ]; then
    extra=(--containerd "$(docker_own_containerd remote)")
  fi
  launch "$d/dockerd.log" - PATH="$SYS_PATH" DOCKER_TMPDIR="$d/tmp" -- \
    /usr/sbin/dockerd --config-file "$d/daemon.json" \
    --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
    -H "unix://$RUN/remote.sock" -H "tcp://127.0.0.1:$TLS_PORT" \
    --tlsverify --tlscacert "$d/tls/ca.pem" --tlscert "$d/tls/server-cert.pem" --tlskey "$d/tls/server-key.pem" \
    --bridge=none --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
    "${extra[@]}"
  remote_start_sshd
}

remote_start_sshd() {
  local d=$RUN/remote out
  out=$(/usr/sbin/sshd -t -f "$d/sshd/sshd_config" 2>&1) || die "remote: sshd refuses its configuration: $out"
  launch "$d/sshd/sshd.log" "$(remote_sshd_pidfile)" PATH="$SYS_PATH" -- /usr/sbin/sshd -D -e -f "$d/sshd/sshd_config"
}

# The test image in another private dockerd (remote, docker26), from docker's archive.
ensure_loaded_image() { # ENGINE
  local name=$1 out stamp=$RUN/$1/image.id docker
  docker=$(docker_cli)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$(cat "$IMAGE_TAR.id" 2>/dev/null)" ] &&
    timeout -k 2 30 "$docker" -H "unix://$RUN/$name.sock" image inspect "$IMAGE_DOCKER" >/dev/null 2>&1; then
    return 0
  fi
  out=$(timeout -k 2 120 "$docker" -H "unix://$RUN/$name.sock" load -i "$IMAGE_TAR" 2>&1) ||
    { printf '%s\n' "$out" >&2; die "$name: docker load of $IMAGE_TAR failed"; }
  cp "$IMAGE_TAR.id" "$stamp" 2>/dev/null || true
  say "$name: loaded $IMAGE_DOCKER"
}

start_containerd() { # containerd | containerd16
  local name=$1 c=$RUN/$1 bin path nri
  if [ "$name" = containerd ]; then
    bin=$CTRD17_BIN/containerd
    path=$CTRD17_BIN:$SYS_PATH
    nri=1
  else
    bin=/usr/bin/containerd
    path=$SYS_PATH
    nri=0
  fi
  [ -x "$bin" ] || die "$name: $bin is missing"
  mkdir -p "$c/root" "$c/state" "$c/tmp" "$c/runc" "$c/opt"
  write_containerd_config "$c/config.toml" "$c" "$(engine_socket "$name")" 1 "$nri"
  launch "$c/$name.log" "$c/$name.pid" PATH="$path" TMPDIR="$c/tmp" -- "$bin" --config "$c/config.toml"
}

# ---------------------------------------------------------------------------------------
# the test image

# The test image: static busybox with sh, sleep and true, CMD sleep 3600, one layer. Its STOPSIGNAL is
# SIGKILL: busybox sleep as PID 1 ignores SIGTERM, so every graceful stop (docker stop, dockerd
# restoring after a crash, CRI StopContainer with a timeout) would otherwise wait 10 s.
# IMAGE_TAR.id holds the image ID the archive was saved from; each engine keeps a stamp of the
# ID it imported, so a rebuilt image reaches every engine.
ensure_docker_image() {
  local docker root=$RUN/images/rootfs sig id
  docker=$(docker_cli)
  sig=$(timeout -k 2 30 "$docker" -H "unix://$RUN/docker.sock" image inspect --format '{{.Config.StopSignal}}' "$IMAGE_DOCKER" 2>/dev/null || true)
  if [ "$sig" != SIGKILL ]; then
    [ -x /bin/busybox ] || die "/bin/busybox is missing (package busybox-static)"
    rm -rf "$root"
    mkdir -p "$root/rootfs/bin"
    cp /bin/busybox "$root/rootfs/bin/busybox"
    ln -s busybox "$root/rootfs/bin/sh"
    ln -s busybox "$root/rootfs/bin/sleep"
    ln -s busybox "$root/rootfs/bin/true"
    printf '%s\n' 'FROM scratch' 'COPY rootfs/ /' 'CMD ["/bin/sleep","3600"]' 'STOPSIGNAL SIGKILL' >"$root/Dockerfile"
    # (docker import cannot set STOPSIGNAL; the classic builder needs no registry for FROM scratch)
    tar -C "$root" -c . | DOCKER_BUILDKIT=0 timeout -k 2 120 "$docker" -H "unix://$RUN/docker.sock" \
      build --quiet --force-rm -t "$IMAGE_DOCKER" - >/dev/null ||
      die "docker: building $IMAGE_DOCKER (docker build from scratch) failed"
    rm -rf "$root" "$IMAGE_TAR"
    say "docker: built $IMAGE_DOCKER"
  fi
  id=$(timeout -k 2 30 "$docker" -H "unix://$RUN/docker.sock" image inspect --format '{{.Id}}' "$IMAGE_DOCKER") ||
    die "docker: cannot inspect $IMAGE_DOCKER"
  if [ ! -s "$IMAGE_TAR" ] || [ "$(cat "$IMAGE_TAR.id" 2>/dev/null)" != "$id" ]; then
    mkdir -p "$RUN/images"
    timeout -k 2 120 "$docker" -H "unix://$RUN/docker.sock" save -o "$IMAGE_TAR.tmp" "$IMAGE_DOCKER" ||
      die "docker: docker save $IMAGE_DOCKER failed"
    mv "$IMAGE_TAR.tmp" "$IMAGE_TAR"
    echo "$id" >"$IMAGE_TAR.id"
  fi
}

ensure_podman_image() {
  local out stamp=$RUN/podman/image.id
  podman_cmd
  if [ "$(cat "$stamp" 2>/dev/null)" = "$(cat "$IMAGE_TAR.id" 2>/dev/null)" ] &&
    timeout -k 2 30 "${PODMAN_CMD[@]}" image exists "$IMAGE_PODMAN" 2>/dev/null; then
    return 0
  fi
  # podman load writes a blob-info cache to /var/lib/containers/cache whatever --root says;
  # when that folder did not exist before, it is removed again (it is not ours to leave).
  local had_sys_dir=0
  [ -e /var/lib/containers ] && had_sys_dir=1
  out=$(timeout -k 2 120 "${PODMAN_CMD[@]}" load -i "$IMAGE_TAR" 2>&1) ||
    { printf '%s\n' "$out" >&2; die "podman: loading $IMAGE_TAR failed"; }
  [ $had_sys_dir = 1 ] || rm -rf /var/lib/containers
  if ! timeout -k 2 30 "${PODMAN_CMD[@]}" image exists "$IMAGE_PODMAN" 2>/dev/null; then
    timeout -k 2 30 "${PODMAN_CMD[@]}" tag "$IMAGE_DOCKER" "$IMAGE_PODMAN" >/dev/null 2>&1 ||
      die "podman: $IMAGE_PODMAN is missing after podman load ($out)"
  fi
  cp "$IMAGE_TAR.id" "$stamp" 2>/dev/null || true
  say "podman: loaded $IMAGE_PODMAN"
}

# ---------------------------------------------------------------------------------------
# the env file

write_env() {
  local envfile=$RUN/env
  {
    echo "# written by scripts/engines/up.sh at $(date -Is); engines that answered then"
    echo "WHALEWATCHER_TEST_RUN_DIR=$RUN"
    if probe docker; then echo "WHALEWATCHER_TEST_DOCKER=unix://$RUN/docker.sock"; fi
    if probe docker26; then echo "WHALEWATCHER_TEST_DOCKER26=unix://$RUN/docker26.sock"; fi
    if probe podman; then echo "WHALEWATCHER_TEST_PODMAN=unix://$RUN/podman.sock"; fi
    if probe containerd; then
      echo "WHALEWATCHER_TEST_CONTAINERD=$RUN/containerd.sock"
      echo "WHALEWATCHER_TEST_CRI=$RUN/containerd.sock"
    fi
    if probe containerd16; then echo "WHALEWATCHER_TEST_CRI_NOEVENTS=$RUN/containerd16.sock"; fi
    if probe remote; then
      local r=$RUN/remote
      remote_ports
      echo "WHALEWATCHER_TEST_DOCKER_REMOTE=unix://$RUN/remote.sock"
      echo "WHALEWATCHER_TEST_DOCKER_TLS=tcp://127.0.0.1:$TLS_PORT"
      echo "WHALEWATCHER_TEST_DOCKER_CERTS=$r/certs"
      echo "WHALEWATCHER_TEST_DOCKER_WRONG_CA=$r/wrong-ca"
      echo "WHALEWATCHER_TEST_DOCKER_SSH=ssh://root@127.0.0.1:$SSH_PORT"
      echo "WHALEWATCHER_TEST_DOCKER_SSH_KEY=$r/ssh/id_ed25519"
      echo "WHALEWATCHER_TEST_DOCKER_SSH_KNOWN_HOSTS=$r/ssh/known_hosts"
      echo "WHALEWATCHER_TEST_DOCKER_SSH_CHANGED_KNOWN_HOSTS=$r/ssh/known_hosts_changed"
      echo "WHALEWATCHER_TEST_DOCKER_SSH_PIDFILE=$(remote_sshd_pidfile)"
    fi
    echo "WHALEWATCHER_TEST_DOCKER_CLI=$(docker_cli)"
    echo "WHALEWATCHER_TEST_CTR=$CTR17"
    echo "WHALEWATCHER_TEST_CTR16=$CTR16"
    echo "WHALEWATCHER_TEST_PODMAN_CLI=$PODMAN"
    echo "WHALEWATCHER_TEST_PODMAN_ARGS=$(podman_args | paste -sd' ')"
    echo "WHALEWATCHER_TEST_PODMAN_ENV=$(podman_env | paste -sd' ')"
    echo "WHALEWATCHER_TEST_IMAGE=$IMAGE_DOCKER"
    echo "WHALEWATCHER_TEST_IMAGE_PODMAN=$IMAGE_PODMAN"
    echo "WHALEWATCHER_TEST_IMAGE_CONTAINERD=$IMAGE_CTR"
  } >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
}

# ---------------------------------------------------------------------------------------
# main

# Every engine but docker gets the test image from docker's archive.
if [ ! -s "$IMAGE_TAR" ] && ! selected docker; then SELECTED=(docker "${SELECTED[@]}"); fi

ensure_packages
if selected containerd; then ensure_containerd17; fi
if selected docker26; then ensure_docker26; fi

declare -A STARTED=()
for e in "${SELECTED[@]}"; do
  if probe "$e"; then
    STARTED[$e]=0
    continue
  fi
  prepare_start "$e"
  case $e in
    docker) start_docker ;;
    podman) start_podman ;;
    containerd | containerd16) start_containerd "$e" ;;
    remote) start_remote ;;
    docker26) start_docker26 ;;
  esac
  STARTED[$e]=1
done

for e in "${SELECTED[@]}"; do
  if [ "${STARTED[$e]}" = 1 ]; then
    wait_engine "$e" 120
    say "$e: started on $(engine_socket "$e") in $((SECONDS - T0)) s since engines:up began"
  else
    say "$e: already up on $(engine_socket "$e") (reused)"
  fi
done

if selected docker; then ensure_docker_image; fi
if selected podman; then ensure_podman_image; fi
if selected remote; then ensure_loaded_image remote; fi
if selected docker26; then ensure_loaded_image docker26; fi
if selected containerd; then
  for ns in "${CTR_NAMESPACES[@]}"; do import_into_namespace containerd "$ns"; done
fi
if selected containerd16; then
  for ns in "${CTR16_NAMESPACES[@]}"; do import_into_namespace containerd16 "$ns"; done
fi

write_env
say "engines up in $((SECONDS - T0)) s (${SELECTED[*]}); endpoints in $RUN/env"
