import { escapeTerminal } from './escape.js';
import type { EngineStatus } from './session.js';

/**
 * The message when no engine answers: what was tried (and why each failed), and how to get one.
 *
 * @example
 * process.stderr.write(noEngineMessage(discovery.tried, session.statuses));
 */
export function noEngineMessage(tried: readonly string[], statuses: readonly EngineStatus[]): string {
  const lines = ['whalewatcher: no container engine reachable.', ''];
  if (statuses.length === 0) {
    lines.push('No engine socket found. Tried:');
    for (const t of tried) lines.push(`  ${escapeTerminal(t)}`);
  } else {
    lines.push('Tried:');
    for (const s of statuses) {
      const st = s.state;
      const why =
        st.state === 'reconnecting' || st.state === 'failed'
          ? st.error.message
          : st.state === 'synced'
            ? 'synced'
            : 'no answer in time';
      lines.push(`  --${s.spec.kind} ${escapeTerminal(s.spec.endpoint)}: ${escapeTerminal(why)}`);
    }
  }
  lines.push(
    '',
    'Start one, or point whalewatcher at one:',
    '  sudo systemctl start docker          (or containerd; Podman: systemctl --user start podman.socket)',
    '  npm run engines:up                   (in the whalewatcher repository: private test engines)',
    '  whalewatcher --docker unix:///path/to/docker.sock --containerd /path/to/containerd.sock',
    '',
  );
  return lines.join('\n');
}

/**
 * A one-line warning for an engine that did not sync while others did.
 *
 * @example
 * process.stderr.write(unsyncedWarning(status));
 */
export function unsyncedWarning(s: EngineStatus): string {
  const st = s.state;
  const why = st.state === 'reconnecting' || st.state === 'failed' ? st.error.message : 'no answer in time';
  return `whalewatcher: --${s.spec.kind} ${escapeTerminal(s.spec.endpoint)} not synced: ${escapeTerminal(why)}\n`;
}
