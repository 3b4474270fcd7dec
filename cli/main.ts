#!/usr/bin/env node
/**
 * The `whalewatcher` command: watches the container engines it finds (or is given) and shows
 * their alive containers live, once, or as NDJSON. `whalewatcher --help` explains it all.
 *
 * @example
 * // npx whalewatcher --once
 * // npx tsx cli/main.ts --docker unix:///var/run/docker.sock --events
 *
 * @module
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Subscription, auditTime, interval, merge } from 'rxjs';
import { HELP, UsageError, parseCli } from './args.js';
import { discoverEngines } from './discover.js';
import { eventLine, snapshotLine } from './json.js';
import { noEngineMessage, unsyncedWarning } from './messages.js';
import { renderView } from './render.js';
import { Session } from './session.js';
import { LiveScreen } from './screen.js';

/**
 * Runs the command with `argv` (without node and the script); resolves with the exit code.
 * Live modes run until SIGINT or SIGTERM.
 *
 * @example
 * process.exitCode = await main(['--once', '--json']);
 */
export async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseCli(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`whalewatcher: ${e.message}\nTry 'whalewatcher --help'.\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`whalewatcher ${packageVersion()}\n`);
    return 0;
  }

  const discovery = discoverEngines(args.engines);
  if (discovery.engines.length === 0) {
    process.stderr.write(noEngineMessage(discovery.tried, []));
    return 1;
  }
  const session = new Session(discovery.engines, {
    callTimeout: args.timeout,
    ...(args.resync === undefined ? {} : { resyncInterval: args.resync }),
    ...(args.once ? { backoff: false as const } : {}),
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const subs: Subscription[] = [];
  // Subscribed before the first sync, which announces every alive container with `started`.
  if (args.events) subs.push(session.fleet.events$.subscribe((e) => out(eventLine(e))));

  await session.settle(args.timeout);
  if (!session.statuses.some((s) => s.everSynced)) {
    const message = noEngineMessage(discovery.tried, session.statuses);
    for (const s of subs) s.unsubscribe();
    await session.close();
    process.stderr.write(message);
    return 1;
  }
  for (const s of session.statuses) if (!s.everSynced) process.stderr.write(unsyncedWarning(s));

  if (args.once) {
    await session.identified(args.timeout);
    const portfolio = session.fleet.portfolio;
    if (args.json) out(snapshotLine(portfolio, session.statuses));
    else process.stdout.write(renderView(portfolio, session.statuses));
    await session.close();
    return 0;
  }

  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.stdout.once('error', () => resolve()); // EPIPE: the reader went away
  });
  if (args.json) {
    subs.push(session.changes$.pipe(auditTime(args.interval)).subscribe(() => out(snapshotLine(session.fleet.portfolio, session.statuses))));
    out(snapshotLine(session.fleet.portfolio, session.statuses));
  } else if (!args.events) {
    const screen = new LiveScreen(process.stdout);
    const draw = () => screen.draw(renderView(session.fleet.portfolio, session.statuses));
    // A second tick keeps countdowns ("reconnecting in N s") current.
    const ticks = screen.isTerminal ? interval(1000) : session.changes$;
    subs.push(merge(session.changes$, ticks).pipe(auditTime(args.interval)).subscribe(draw));
    draw();
    subs.push({ unsubscribe: () => screen.end() } as Subscription);
  }
  await stopped;
  for (const s of subs) s.unsubscribe();
  await session.close();
  return 0;
}

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'whalewatcher') return pkg.version ?? 'unknown';
    } catch {
      // not here: one folder up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** Whether this module is the program (run as `whalewatcher`, `node dist/cli/main.js`, `tsx cli/main.ts`), not imported. */
function isProgram(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

const invoked = isProgram();
if (invoked) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Everything is closed; should a handle linger anyway, do not hang.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (e: unknown) => {
      process.stderr.write(`whalewatcher: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
