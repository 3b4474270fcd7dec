import { parseArgs } from 'node:util';

/**
 * The kinds of engine the command watches, one per engine flag.
 *
 * @example
 * const kind: EngineKind = 'containerd'; // --containerd PATH
 */
export type EngineKind = 'docker' | 'containerd' | 'cri';

/**
 * The engines given on the command line, by kind, in the order given.
 *
 * @example
 * parseCli(['--cri', '/run/crio/crio.sock']).engines; // { docker: [], containerd: [], cri: ['/run/crio/crio.sock'] }
 */
export type EngineArgs = Readonly<Record<EngineKind, readonly string[]>>;

/**
 * What the command line asks for.
 *
 * @example
 * const args = parseCli(['--docker', 'unix:///run/docker.sock', '--once']);
 */
export interface CliArgs {
  readonly engines: EngineArgs;
  readonly once: boolean;
  readonly json: boolean;
  readonly events: boolean;
  readonly help: boolean;
  readonly version: boolean;
  /** How long to wait for the first answer of the engines, ms. */
  readonly timeout: number;
  /** Least time between two redraws (or NDJSON snapshots), ms. */
  readonly interval: number;
  /** Period of the watchers' safety-net relist, ms; undefined for the library's default. */
  readonly resync?: number;
}

/**
 * A command line that does not parse; `main` prints it with a hint to `--help` and exits 2.
 *
 * @example
 * try { parseCli(['--bogus']); } catch (e) { if (e instanceof UsageError) console.error(e.message); }
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Parses the command line (without `node` and the script) with `node:util`'s `parseArgs`.
 * Throws a {@link UsageError} for unknown options, stray arguments and bad numbers.
 *
 * @example
 * parseCli(['--cri', '/run/crio/crio.sock', '--cri', '/run/containerd/containerd.sock', '--events']);
 */
export function parseCli(argv: readonly string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        docker: { type: 'string', multiple: true },
        containerd: { type: 'string', multiple: true },
        cri: { type: 'string', multiple: true },
        once: { type: 'boolean' },
        json: { type: 'boolean' },
        events: { type: 'boolean' },
        timeout: { type: 'string' },
        interval: { type: 'string' },
        resync: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const v = parsed.values;
  if (v.once && v.events) throw new UsageError('--once and --events do not go together: --events follows changes');
  return {
    engines: { docker: v.docker ?? [], containerd: v.containerd ?? [], cri: v.cri ?? [] },
    once: v.once ?? false,
    json: v.json ?? false,
    events: v.events ?? false,
    help: v.help ?? false,
    version: v.version ?? false,
    timeout: seconds('--timeout', v.timeout, 10),
    interval: millis('--interval', v.interval, 250),
    ...(v.resync === undefined ? {} : { resync: seconds('--resync', v.resync, 60) }),
  };
}

function seconds(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback * 1000;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} wants a positive number of seconds, not ${JSON.stringify(text)}`);
  return n * 1000;
}

function millis(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} wants a number of milliseconds, not ${JSON.stringify(text)}`);
  return n;
}

/**
 * The `--help` text.
 *
 * @example
 * process.stdout.write(HELP);
 */
export const HELP = `whalewatcher: the alive containers of your container engines, live

Usage: whalewatcher [engines] [--once] [--json | --events] [options]

Engines (repeatable; without any, the usual places are tried, those whose socket exists):
  --docker URL        a Docker or Podman API endpoint: unix:///path or tcp://host:port
                      (default: $DOCKER_HOST, else unix:///var/run/docker.sock,
                      and Podman's /run/podman/podman.sock)
  --containerd PATH   a containerd socket (default /run/containerd/containerd.sock)
  --cri PATH          a CRI runtime socket (default: /run/crio/crio.sock,
                      /run/cri-dockerd.sock, /run/k3s/containerd/containerd.sock)

Output (default: a live view in the terminal, redrawn in place on every change, by engine and
compose project: each container's name, short ID, PID and paused state, with counts, the
engine's identity and its connection state):
  --once              print one synced snapshot and exit
  --json              NDJSON: one line per snapshot ({"kind":"snapshot",...}); with --once, one line
  --events            NDJSON: one line per lifecycle event ({"kind":"event","type":"started",...});
                      the first sync announces every alive container with "started"

Options:
  --timeout SECONDS   how long to wait for the engines' first answer (default 10)
  --interval MS       least time between two redraws or snapshots (default 250)
  --resync SECONDS    period of the safety-net relist of every engine (default 60); shorter
                      catches up sooner with a CRI runtime whose events another client takes
  -h, --help          this text
  --version           the version of whalewatcher

Exit codes: 0 ok, 1 no engine reachable (the message names what was tried), 2 bad usage.
Names and labels are shown with terminal control characters escaped (\\e, \\x07, ...).

Examples:
  whalewatcher
  whalewatcher --docker unix:///run/user/1000/podman/podman.sock --once
  whalewatcher --events | jq -c 'select(.type == "exited")'
`;
