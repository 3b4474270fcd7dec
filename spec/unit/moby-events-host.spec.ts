import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFieldError, normalizeMobyEvent } from '../../engines/moby/events.js';
import { parseDockerHost } from '../../engines/moby/host.js';

describe('moby: event normalization', () => {
  const actor = (attrs: Record<string, string> = {}) => ({ ID: 'c1', Attributes: attrs });

  it('maps start, die (and Podman\'s died), pause, unpause with the engine time', () => {
    const at = new Date(1_700_000_000_123);
    const t = { timeNano: 1_700_000_000_123_456_789 };
    expect(normalizeMobyEvent({ Type: 'container', Action: 'start', Actor: actor(), ...t })).to.deep.equal({ type: 'started', id: 'c1', at });
    expect(normalizeMobyEvent({ Type: 'container', Action: 'die', Actor: actor(), ...t })).to.deep.equal({ type: 'died', id: 'c1', at });
    expect(normalizeMobyEvent({ Type: 'container', Action: 'died', Actor: actor(), ...t })).to.deep.equal({ type: 'died', id: 'c1', at });
    expect(normalizeMobyEvent({ Type: 'container', Action: 'pause', Actor: actor(), ...t })).to.deep.equal({ type: 'paused', id: 'c1', at });
    expect(normalizeMobyEvent({ Type: 'container', Action: 'unpause', Actor: actor(), ...t })).to.deep.equal({ type: 'unpaused', id: 'c1', at });
  });

  it('maps rename to updated with the new name, without a leading slash', () => {
    expect(normalizeMobyEvent({ Type: 'container', Action: 'rename', Actor: actor({ name: '/new', oldName: '/old' }), time: 1_700_000_000 }))
      .to.deep.equal({ type: 'updated', id: 'c1', name: 'new', at: new Date(1_700_000_000_000) });
  });

  it('understands the legacy status/id fields', () => {
    expect(normalizeMobyEvent({ status: 'start', id: 'c2' })).to.deep.equal({ type: 'started', id: 'c2' });
  });

  it('skips other object types and actions', () => {
    expect(normalizeMobyEvent({ Type: 'network', Action: 'connect', Actor: actor() })).to.equal(undefined);
    expect(normalizeMobyEvent({ Type: 'container', Action: 'exec_start: sh', Actor: actor() })).to.equal(undefined);
    expect(normalizeMobyEvent({ Type: 'container', Action: 'constructor', Actor: actor() })).to.equal(undefined);
  });

  it('names the missing field', () => {
    const field = (msg: unknown) => {
      try {
        normalizeMobyEvent(msg);
      } catch (err) {
        expect(err).to.be.instanceOf(EventFieldError);
        return (err as EventFieldError).field;
      }
      return undefined;
    };
    expect(field({ Type: 'container', Action: 'start', Actor: { Attributes: {} } })).to.equal('Actor.ID');
    expect(field({ Type: 'container', Actor: actor() })).to.equal('Action');
    expect(field({ Type: 'container', Action: 'rename', Actor: actor() })).to.equal('Actor.Attributes.name');
    expect(field([1, 2])).to.equal('event');
  });
});

describe('moby: Docker host parsing', () => {
  it('defaults to DOCKER_HOST, then the default socket', () => {
    expect(parseDockerHost(undefined, undefined, {})).to.deep.equal({ kind: 'unix', api: 'unix:///var/run/docker.sock', socketPath: '/var/run/docker.sock' });
    expect(parseDockerHost(undefined, undefined, { DOCKER_HOST: 'unix:///run/podman.sock' }))
      .to.include({ kind: 'unix', socketPath: '/run/podman.sock', api: 'unix:///run/podman.sock' });
    expect(parseDockerHost('unix:///x.sock', undefined, { DOCKER_HOST: 'tcp://h:1' })).to.include({ socketPath: '/x.sock' });
  });

  it('accepts bare absolute socket paths', () => {
    expect(parseDockerHost('/run/docker.sock', undefined, {})).to.include({ kind: 'unix', socketPath: '/run/docker.sock' });
  });

  it('parses tcp:// with the CLI\'s default ports', () => {
    expect(parseDockerHost('tcp://10.1.2.3', undefined, {})).to.include({ kind: 'tcp', host: '10.1.2.3', port: 2375, protocol: 'http' });
    expect(parseDockerHost('tcp://h:1234', undefined, {})).to.include({ host: 'h', port: 1234, protocol: 'http' });
    expect(parseDockerHost('tcp://[::1]:2375', undefined, {})).to.include({ host: '::1', port: 2375 });
    expect(parseDockerHost('https://h', undefined, {})).to.include({ protocol: 'https', port: 2376, rejectUnauthorized: true });
  });

  it('takes TLS from the options or from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-tls-'));
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), `PEM ${f}`);
    const fromEnv = parseDockerHost('tcp://h', undefined, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir });
    expect(fromEnv).to.include({ protocol: 'https', port: 2376, rejectUnauthorized: true });
    expect(String((fromEnv as { ca: Buffer }).ca)).to.equal('PEM ca.pem');
    expect(parseDockerHost('tcp://h', { verify: false, certPath: dir }, {})).to.include({ protocol: 'https', rejectUnauthorized: false });
    expect(parseDockerHost('tcp://h', { ca: 'CA' }, {})).to.include({ protocol: 'https', ca: 'CA' });
    expect(parseDockerHost('tcp://h', false, { DOCKER_TLS_VERIFY: '1' })).to.include({ protocol: 'http' });
  });

  it('rejects what it cannot use', () => {
    expect(() => parseDockerHost('ssh://me@h', undefined, {})).to.throw(TypeError, /unsupported/);
    expect(() => parseDockerHost('docker.sock', undefined, {})).to.throw(TypeError, /invalid/);
  });
});
