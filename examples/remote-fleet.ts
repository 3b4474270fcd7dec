/**
 * Two remote Docker hosts as one fleet: one reached over SSH (`docker system dial-stdio` on the
 * remote host, like `DOCKER_HOST=ssh://…`), one over TCP with mutual TLS (like
 * `DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=…`). Prints every alive container with its engine once
 * both are synced, then its lifecycle events as they happen, until Ctrl-C.
 *
 *   REMOTE_SSH=ssh://root@build-1 REMOTE_TLS=tcp://build-2:2376 DOCKER_CERT_PATH=$HOME/.docker/build-2 \
 *     npx tsx examples/remote-fleet.ts
 *
 * SSH keys come from the SSH agent (SSH_AUTH_SOCK) and ~/.ssh/id_*, and the host key must be in
 * ~/.ssh/known_hosts (SSH_KNOWN_HOSTS and SSH_IDENTITY name other files). An unknown or changed
 * host key, a server certificate from another CA or a client certificate the server refuses
 * stops that engine for good (`failed`), naming the endpoint and the reason.
 */
import { mobyWatcher } from '../engines/moby/index.js';
import { fleet } from '../lib/index.js';

const sshHost = process.env['REMOTE_SSH'] ?? 'ssh://localhost';
const tlsHost = process.env['REMOTE_TLS'] ?? 'tcp://localhost:2376';
const certPath = process.env['DOCKER_CERT_PATH'];
const knownHosts = process.env['SSH_KNOWN_HOSTS'];
const identity = process.env['SSH_IDENTITY'];

const overSsh = mobyWatcher(sshHost, {
  ssh: { ...(knownHosts && { knownHosts }), ...(identity && { identityFiles: [identity] }) },
});
const overTls = mobyWatcher(tlsHost, { tls: certPath ? { certPath } : true });
const all = fleet(overSsh, overTls);

for (const [name, w] of [['ssh', overSsh], ['tls', overTls]] as const) {
  w.state$.subscribe((s) => {
    if (s.state === 'reconnecting') console.error(`[${name}] reconnecting in ${s.delay} ms: ${s.error.message}`);
    else if (s.state === 'failed') console.error(`[${name}] failed for good: ${s.error.message}`);
    else console.error(`[${name}] ${s.state}`);
  });
}

const stop = () => void all.close();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stop);

try {
  const portfolio = await all.ready({ signal: AbortSignal.timeout(30_000) });
  console.log(`${portfolio.containerTotal} containers on ${portfolio.engines().length} engines`);
  for (const engine of portfolio.engines()) {
    for (const c of portfolio.engine(engine)!.containers()) console.log(`  ${engine.api}: ${c.name} pid ${c.pid}`);
  }
  all.events$.subscribe((e) => {
    console.log(`${e.type} ${e.container.name} pid ${e.container.pid} on ${e.container.engine?.api ?? '?'}`);
  });
} catch (err) {
  console.error(`not synced: ${err instanceof Error ? err.message : String(err)}`);
  await all.close();
  process.exitCode = 1;
}
