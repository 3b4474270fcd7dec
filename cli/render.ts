import type { Container, Portfolio } from '../lib/model.js';
import type { FleetPortfolio } from '../lib/fleet/index.js';
import { escapeTerminal } from './escape.js';
import type { EngineStatus } from './session.js';

const MAX_NAME = 80;

/**
 * A short container ID: 12 characters of a 64-hex-digit ID (Docker, CRI), else the ID itself
 * (containerd's `namespace/id`), shortened to 24 characters.
 *
 * @example
 * shortId('3f2a…64 hex digits…'); // '3f2a1b2c3d4e'
 */
export function shortId(id: string): string {
  if (/^[0-9a-f]{64}$/.test(id)) return id.slice(0, 12);
  return clip(id, 24);
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * An engine's state as the view tells it: `synced`, `connecting…`, `reconnecting in 3 s (attempt
 * 2): …`, `failed: …`, `closed`.
 *
 * @example
 * stateText(status, Date.now()); // 'reconnecting in 4 s (attempt 1): engine at … is unreachable: …'
 */
export function stateText(s: EngineStatus, now: number): string {
  const st = s.state;
  switch (st.state) {
    case 'synced':
      return 'synced';
    case 'idle':
    case 'connecting':
      return 'connecting…';
    case 'reconnecting': {
      const left = Math.max(0, Math.ceil((st.delay - (now - s.since)) / 1000));
      return `reconnecting in ${left} s (attempt ${st.attempt}): ${st.error.message}`;
    }
    case 'failed':
      return `failed: ${st.error.message}`;
    case 'closed':
      return 'closed';
  }
}

function engineHeader(s: EngineStatus, p: Portfolio | undefined): string[] {
  const w = s.watcher;
  const identity = s.identity ? `${s.identity.version} (id ${clip(s.identity.id, 16)})` : '';
  const pid = w.pid ? `pid ${w.pid}` : '';
  const head = [w.type, w.api, identity, pid].filter(Boolean).join('  ');
  const total = p?.containerTotal ?? 0;
  const projects = p?.names().length ?? 0;
  return [
    escapeTerminal(head),
    `  ${escapeTerminal(stateText(s, Date.now()))} · ${plural(total, 'container')} · ${plural(projects, 'project')}`,
  ];
}

function table(containers: readonly Container[]): string[] {
  const rows = containers.map((c) => [
    clip(escapeTerminal(c.name), MAX_NAME),
    escapeTerminal(shortId(c.id)),
    String(c.pid),
    c.paused ? 'paused' : 'running',
  ]);
  const head = ['NAME', 'ID', 'PID', 'STATE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => `    ${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`;
  return [line(head), ...rows.map(line)];
}

/**
 * The human view of a fleet: a header, then per engine its identity and state, and per compose
 * project (standalone containers last) a table of name, short ID, PID and paused state. Every
 * text that comes from an engine is escaped with {@link escapeTerminal}.
 *
 * @example
 * process.stdout.write(renderView(session.fleet.portfolio, session.statuses));
 */
export function renderView(portfolio: FleetPortfolio, statuses: readonly EngineStatus[], now = new Date()): string {
  const out: string[] = [];
  const synced = statuses.filter((s) => s.state.state === 'synced').length;
  out.push(
    `whalewatcher · ${plural(statuses.length, 'engine')} (${synced} synced) · ${plural(portfolio.containerTotal, 'container')} · ${now.toLocaleTimeString('en-GB', { hour12: false })}`,
  );
  for (const s of statuses) {
    out.push('');
    const p = portfolio.engine({ type: s.watcher.type, api: s.watcher.api });
    out.push(...engineHeader(s, p));
    if (!p) continue;
    for (const name of [...p.names(), '']) {
      const project = p.project(name);
      if (!project) continue;
      const containers = project.containers();
      const title = name === '' ? '(no project)' : `project ${escapeTerminal(name)}`;
      out.push(`  ${title} · ${plural(containers.length, 'container')}`);
      out.push(...table(containers));
    }
  }
  return `${out.join('\n')}\n`;
}
