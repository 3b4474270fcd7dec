/**
 * OpenSSH's known_hosts files, read as OpenSSH reads them: plain host names and patterns
 * (`*`, `?`, `!negation`), `[host]:port` for ports other than 22, hashed names (`|1|salt|hash`),
 * and the `@revoked` marker (`@cert-authority` lines are not used: host certificates are not
 * supported). The SSH dialer checks every host key against them.
 *
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
/**
 * One line of a known_hosts file: its host patterns (or one hashed name), key type and key
 * blob, and its marker (`@revoked`, `@cert-authority`) if any.
 *
 * @example
 * const entries: KnownHostEntry[] = parseKnownHosts(readFileSync(file, 'utf8'));
 */
export interface KnownHostEntry {
  readonly marker?: 'revoked' | 'cert-authority';
  /** Comma-separated patterns (`host`, `[host]:port`, wildcards, `!negations`), or a hashed `|1|salt|hash` name. */
  readonly hosts: string;
  readonly keyType: string;
  readonly key: Buffer;
}

/**
 * Parses the text of a known_hosts file (OpenSSH's format); comments, blank and unreadable
 * lines are skipped.
 *
 * @example
 * parseKnownHosts('[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nza…');
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const fields = raw.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority';
      fields.shift();
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) continue;
    out.push({ ...(marker && { marker }), hosts, keyType, key: Buffer.from(b64, 'base64') });
  }
  return out;
}

/** A Buffer as the Uint8Array it is (the pinned @types/node's Buffer is no Uint8Array to TypeScript 5.9). */
const u8 = (b: Buffer): Uint8Array => b as unknown as Uint8Array;

/**
 * The name a host has in known_hosts: `host` on port 22, else `[host]:port`.
 *
 * @example
 * knownHostName('127.0.0.1', 2222); // '[127.0.0.1]:2222'
 */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

/** Whether an entry's host field names `name` (hashed names, patterns and negations). */
function hostMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', u8(Buffer.from(salt, 'base64'))).update(name).digest();
    const want = Buffer.from(hash, 'base64');
    return want.length === mac.length && timingSafeEqual(u8(mac), u8(want));
  }
  let matched = false;
  for (const pattern of hosts.split(',')) {
    if (pattern.startsWith('!')) {
      if (globMatch(pattern.slice(1), name)) return false;
    } else if (globMatch(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * What known_hosts says of a host key: `trusted`, `revoked`, `changed` (the host is listed
 * with other keys only) or `unknown` (not listed). `@cert-authority` lines are not used.
 *
 * @example
 * checkHostKey(parseKnownHosts(text), '127.0.0.1', 2222, keyBlob); // 'trusted'
 */
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): 'trusted' | 'revoked' | 'changed' | 'unknown' {
  const name = knownHostName(host, port);
  const mine = entries.filter((e) => e.marker !== 'cert-authority' && hostMatches(e.hosts, name));
  if (mine.some((e) => e.marker === 'revoked' && e.key.equals(u8(key)))) return 'revoked';
  const listed = mine.filter((e) => !e.marker);
  if (listed.some((e) => e.key.equals(u8(key)))) return 'trusted';
  return listed.length ? 'changed' : 'unknown';
}

/**
 * The host key algorithms to offer for the key types known_hosts lists for a host, so that the
 * server shows the key that is listed (OpenSSH does the same); empty when none is listed.
 *
 * @example
 * hostKeyAlgorithms(entries, 'build', 22); // ['ssh-ed25519']
 */
export function hostKeyAlgorithms(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = knownHostName(host, port);
  const algorithms = new Set<string>();
  for (const e of entries) {
    if (e.marker || !hostMatches(e.hosts, name)) continue;
    if (e.keyType === 'ssh-rsa') ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'].forEach((a) => algorithms.add(a));
    else algorithms.add(e.keyType);
  }
  return [...algorithms];
}

/**
 * A key blob's fingerprint as OpenSSH prints it (`SHA256:…`).
 *
 * @example
 * fingerprint(entry.key); // 'SHA256:iQjS4Gqe…'
 */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(u8(key)).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The key type a key blob names (its first SSH string), e.g. `ssh-ed25519`.
 *
 * @example
 * keyTypeOf(entry.key); // 'ssh-ed25519'
 */
export function keyTypeOf(key: Buffer): string {
  const len = key.length >= 4 ? key.readUInt32BE(0) : 0;
  return len > 0 && len < 64 && key.length >= 4 + len ? key.subarray(4, 4 + len).toString('latin1') : 'unknown';
}
