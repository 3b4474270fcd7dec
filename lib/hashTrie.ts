/**
 * A small persistent hash map with string keys (a CHAMP trie: 32-way nodes with a bitmap of the
 * entries held inline and one of the sub-nodes), the portfolio's maps. An update copies one node
 * per level (at 10,000 keys: three) and shares everything else. The hash of a key is computed by
 * the caller, once per key and step, and passed to every map keyed by it: general-purpose
 * persistent maps re-hash long keys on every call (immutable.js caches the hashes of only 255
 * strings), which made the reducer 3x the mutable baseline at 10,000 containers.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';

/**
 * One node of the trie: `content` holds the inline entries as key, value pairs from the front,
 * then the sub-nodes in reverse bit order from the back. Below the last level of hash bits, a
 * node holds colliding keys as plain pairs (both bitmaps 0).
 */
class Node {
  constructor(
    readonly dataMap: number,
    readonly nodeMap: number,
    readonly content: readonly unknown[],
  ) {}
}

/**
 * A persistent map of string keys to `V`; `Node` itself is untyped, the type lives in the functions.
 *
 * @example
 * const ids: Trie<string> = trieSet(emptyTrie, 'web', stringHash('web'), '3f4e…');
 */
export type Trie<V> = Node & { readonly __value?: V };

const LAST = 35; // shifts 0, 5, …, 30 consume the 32 hash bits; at 35, collisions

/**
 * The empty trie, of any value type.
 *
 * @example
 * const none: Trie<number> = emptyTrie;
 */
export const emptyTrie: Trie<never> = new Node(0, 0, []);

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

let hashedKey = '';
let hashedValue = 0;

/**
 * The hash's multiplier: odd, random per process. Container IDs come from engines, which are
 * untrusted: with a fixed multiplier an engine could send thousands of IDs with one hash (as
 * "Aa" and "BB" weigh the same in a base-31 sum) and make every map step walk them all.
 */
const MULTIPLIER = (randomBytes(4).readUInt32LE(0) | 1) >>> 0;

/**
 * The 32-bit hash of a string under which a {@link Trie} files it (a multiplicative hash with a
 * random multiplier per process and a final avalanche). The last long key's hash is remembered:
 * a step hashes its ID once.
 *
 * @example
 * stringHash('3f4e…') === stringHash('3f4e…'); // true
 */
export function stringHash(s: string): number {
  if (s === hashedKey) return hashedValue;
  let h = s.length;
  for (let i = 0; i < s.length; i++) h = Math.imul(h, MULTIPLIER) + s.charCodeAt(i) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  if (s.length > 16) {
    hashedKey = s;
    hashedValue = h;
  }
  return h;
}

/**
 * The value of `key` (whose {@link stringHash} is `hash`), if any.
 *
 * @example
 * trieGet(ids, 'web', stringHash('web')); // '3f4e…'
 */
export function trieGet<V>(root: Trie<V>, key: string, hash: number): V | undefined {
  let node: Node = root;
  for (let shift = 0; shift < LAST; shift += 5) {
    const bit = 1 << ((hash >>> shift) & 31);
    if (node.dataMap & bit) {
      const i = 2 * popcount(node.dataMap & (bit - 1));
      return node.content[i] === key ? (node.content[i + 1] as V) : undefined;
    }
    if (!(node.nodeMap & bit)) return undefined;
    node = node.content[node.content.length - 1 - popcount(node.nodeMap & (bit - 1))] as Node;
  }
  const c = node.content;
  for (let i = 0; i < c.length; i += 2) if (c[i] === key) return c[i + 1] as V;
  return undefined;
}

/**
 * The trie with `key` mapped to `value`; the same trie when it already was.
 *
 * @example
 * const next = trieSet(ids, 'db', stringHash('db'), '9a0b…');
 */
export function trieSet<V>(node: Trie<V>, key: string, hash: number, value: V, shift = 0): Trie<V> {
  const c = node.content;
  if (shift >= LAST) {
    for (let i = 0; i < c.length; i += 2) {
      if (c[i] === key) return c[i + 1] === value ? node : new Node(0, 0, replaced(c, i + 1, value));
    }
    return new Node(0, 0, [...c, key, value]);
  }
  const bit = 1 << ((hash >>> shift) & 31);
  if (node.dataMap & bit) {
    const i = 2 * popcount(node.dataMap & (bit - 1));
    const k = c[i] as string;
    if (k === key) return c[i + 1] === value ? node : new Node(node.dataMap, node.nodeMap, replaced(c, i + 1, value));
    const sub = pair(k, stringHash(k), c[i + 1], key, hash, value, shift + 5);
    // The pair moves from the inline entries to a sub-node.
    const j = c.length - 2 - popcount(node.nodeMap & (bit - 1));
    const next = new Array<unknown>(c.length - 1);
    for (let x = 0; x < i; x++) next[x] = c[x];
    for (let x = i; x < j; x++) next[x] = c[x + 2];
    next[j] = sub;
    for (let x = j + 1; x < next.length; x++) next[x] = c[x + 1];
    return new Node(node.dataMap ^ bit, node.nodeMap | bit, next);
  }
  if (node.nodeMap & bit) {
    const j = c.length - 1 - popcount(node.nodeMap & (bit - 1));
    const sub = c[j] as Node;
    const updated = trieSet(sub, key, hash, value, shift + 5);
    return updated === sub ? node : new Node(node.dataMap, node.nodeMap, replaced(c, j, updated));
  }
  const i = 2 * popcount(node.dataMap & (bit - 1));
  const next = new Array<unknown>(c.length + 2);
  for (let x = 0; x < i; x++) next[x] = c[x];
  next[i] = key;
  next[i + 1] = value;
  for (let x = i; x < c.length; x++) next[x + 2] = c[x];
  return new Node(node.dataMap | bit, node.nodeMap, next);
}

function pair(k1: string, h1: number, v1: unknown, k2: string, h2: number, v2: unknown, shift: number): Node {
  if (shift >= LAST) return new Node(0, 0, [k1, v1, k2, v2]);
  const b1 = 1 << ((h1 >>> shift) & 31);
  const b2 = 1 << ((h2 >>> shift) & 31);
  if (b1 === b2) return new Node(0, b1, [pair(k1, h1, v1, k2, h2, v2, shift + 5)]);
  return new Node(b1 | b2, 0, (b1 >>> 0) < (b2 >>> 0) ? [k1, v1, k2, v2] : [k2, v2, k1, v1]);
}

function replaced(c: readonly unknown[], i: number, value: unknown): unknown[] {
  const next = c.slice();
  next[i] = value;
  return next;
}

/**
 * The trie without `key`; with `only`, only if `key` maps to it (one walk, not a get and a
 * delete). The same trie when nothing was removed.
 *
 * @example
 * const next = trieDelete(ids, 'web', stringHash('web'), '3f4e…');
 */
export function trieDelete<V>(node: Trie<V>, key: string, hash: number, only?: V, shift = 0): Trie<V> {
  const c = node.content;
  if (shift >= LAST) {
    for (let i = 0; i < c.length; i += 2) {
      if (c[i] !== key) continue;
      if (only !== undefined && c[i + 1] !== only) return node;
        return new Node(0, 0, [...c.slice(0, i), ...c.slice(i + 2)]);
    }
    return node;
  }
  const bit = 1 << ((hash >>> shift) & 31);
  if (node.dataMap & bit) {
    const i = 2 * popcount(node.dataMap & (bit - 1));
    if (c[i] !== key || (only !== undefined && c[i + 1] !== only)) return node;
    const next = new Array<unknown>(c.length - 2);
    for (let x = 0; x < i; x++) next[x] = c[x];
    for (let x = i; x < next.length; x++) next[x] = c[x + 2];
    return new Node(node.dataMap ^ bit, node.nodeMap, next);
  }
  if (!(node.nodeMap & bit)) return node;
  const j = c.length - 1 - popcount(node.nodeMap & (bit - 1));
  const sub = c[j] as Node;
  const updated = trieDelete(sub, key, hash, only, shift + 5);
  if (updated === sub) return node;
  if (updated.nodeMap !== 0 || updated.content.length !== 2) {
    return new Node(node.dataMap, node.nodeMap, replaced(c, j, updated));
  }
  // The sub-node keeps one entry: it moves inline, so that the trie stays canonical.
  const i = 2 * popcount(node.dataMap & (bit - 1));
  const next = new Array<unknown>(c.length + 1);
  for (let x = 0; x < i; x++) next[x] = c[x];
  next[i] = updated.content[0];
  next[i + 1] = updated.content[1];
  for (let x = i; x < j; x++) next[x + 2] = c[x];
  for (let x = j + 1; x < c.length; x++) next[x + 1] = c[x];
  return new Node(node.dataMap | bit, node.nodeMap ^ bit, next);
}

/**
 * Pushes every value of the trie onto `out` (`keys`: the keys instead), in no particular order.
 *
 * @example
 * const all: string[] = []; trieCollect(ids, all);
 */
export function trieCollect<V>(node: Trie<V>, out: unknown[], keys = false): void {
  const c = node.content;
  const data = node.dataMap === 0 && node.nodeMap === 0 ? c.length : 2 * popcount(node.dataMap);
  for (let i = keys ? 0 : 1; i < data; i += 2) out.push(c[i]);
  for (let j = data; j < c.length; j++) trieCollect(c[j] as Node, out, keys);
}
