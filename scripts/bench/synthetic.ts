/**
 * Synthetic containers and event streams for the core benchmarks (scaling, memory): no engine,
 * only `Action`s as the watch pipeline feeds them to the reducer.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Action } from '../../lib/actions.js';
import type { ContainerDetails } from '../../lib/adapter.js';

let pids = 1000;
let serial = 0;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * Details of a container as an engine answer would give them. With `realistic`, ten
 * compose-like labels parsed from JSON text (flat strings, as from a real engine answer);
 * otherwise just the project label.
 */
export function syntheticDetails(project: string, realistic = false): ContainerDetails {
  const n = ++serial;
  const id = hex(32);
  const service = `svc${n % 10}`;
  const name = `${project}-${service}-${n}`;
  let labels: Record<string, string>;
  if (realistic) {
    const text = JSON.stringify({
      'com.docker.compose.project': project,
      'com.docker.compose.service': service,
      'com.docker.compose.container-number': String(n),
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.version': '2.29.7',
      'com.docker.compose.config-hash': hex(32),
      'com.docker.compose.image': `sha256:${hex(32)}`,
      'com.docker.compose.depends_on': `db:service_started:false,cache:service_healthy:true`,
      'com.docker.compose.project.working_dir': `/srv/stacks/${project}`,
      'com.docker.compose.project.config_files': `/srv/stacks/${project}/compose.yaml`,
    });
    // The adapter copies the engine's labels into an object of its own.
    labels = {};
    for (const [k, v] of Object.entries(JSON.parse(text) as Record<string, string>)) labels[k] = v;
  } else {
    labels = { 'com.docker.compose.project': project };
  }
  return { id, name, labels, pid: pids++, paused: false, raw: undefined };
}

/** The alive containers a generator keeps track of, so that every event it makes is valid. */
export class Population {
  readonly ids: string[] = [];
  readonly paused = new Set<string>();
  readonly names = new Map<string, string>();

  constructor(
    readonly project: (i: number) => string,
    readonly realistic = false,
  ) {}

  /** A new container's `started` action (with details, as from an inspection). */
  start(at: Date): Action {
    const details = syntheticDetails(this.project(serial), this.realistic);
    this.ids.push(details.id);
    this.names.set(details.id, details.name);
    return { type: 'started', id: details.id, details, at };
  }

  /**
   * One event of the churn mix: 40% die or start (a die when the population is at `size` or
   * above, else a start: the population stays at `size`), 40% pause/unpause, 20% rename.
   */
  next(rand: () => number, at: Date, size: number): Action {
    const r = rand();
    const pick = () => this.ids[Math.floor(rand() * this.ids.length)]!;
    if (r < 0.4 && this.ids.length >= size && this.ids.length > 1) {
      const i = Math.floor(rand() * this.ids.length);
      const id = this.ids[i]!;
      this.ids[i] = this.ids[this.ids.length - 1]!;
      this.ids.pop();
      this.paused.delete(id);
      this.names.delete(id);
      return { type: 'died', id, at };
    }
    if (r < 0.4) return this.start(at);
    if (r < 0.8) {
      const id = pick();
      if (this.paused.delete(id)) return { type: 'unpaused', id, at };
      this.paused.add(id);
      return { type: 'paused', id, at };
    }
    const id = pick();
    const name = `renamed-${++serial}`;
    this.names.set(id, name);
    return { type: 'updated', id, name, at };
  }
}

/** A small deterministic PRNG (mulberry32), so every run sees the same event mix. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
