import type { EngineEvent } from '../../lib/adapter.js';

/**
 * The container event actions the adapter subscribes to (`died` is Podman's own name for `die`:
 * its filter does not match `die`; dockerd ignores the unknown value).
 *
 * @example
 * const filters = { type: ['container'], event: [...MOBY_EVENT_ACTIONS] };
 */
export const MOBY_EVENT_ACTIONS = ['start', 'die', 'died', 'pause', 'unpause', 'rename'] as const;

/**
 * Raised by {@link normalizeMobyEvent} for an event that lacks a required field; the adapter
 * turns it into a `ProtocolError` carrying the endpoint.
 *
 * @example
 * try { normalizeMobyEvent({ Action: 'start' }); } catch (e) { (e as EventFieldError).field; } // 'Actor.ID'
 */
export class EventFieldError extends Error {
  override readonly name = 'EventFieldError';
  constructor(readonly field: string, readonly problem: string) {
    super(`${field}: ${problem}`);
  }
}

/**
 * Turns one decoded Docker (or Podman) `/events` message into an {@link EngineEvent}, or
 * `undefined` for messages the watcher does not care about (other object types, other actions).
 * Understands both the current (`Type`, `Action`, `Actor`) and the legacy (`status`, `id`) fields,
 * and Podman's `died` besides Docker's `die`. `at` comes from `timeNano`, else `time`.
 *
 * @example
 * normalizeMobyEvent({ Type: 'container', Action: 'rename', Actor: { ID: 'abc', Attributes: { name: 'new' } }, timeNano: 1.7e18 });
 * // → { type: 'updated', id: 'abc', name: 'new', at: Date(…) }
 */
export function normalizeMobyEvent(msg: unknown): EngineEvent | undefined {
  if (!isObject(msg)) throw new EventFieldError('event', `not an object: ${JSON.stringify(msg)}`);
  const kind = msg['Type'];
  if (kind !== undefined && kind !== 'container') return undefined;
  const action = msg['Action'] ?? msg['status'];
  if (typeof action !== 'string') throw new EventFieldError('Action', `not a string: ${JSON.stringify(action)}`);
  const type = ACTIONS.get(action);
  if (!type) return undefined;
  const actor = msg['Actor'];
  if (actor !== undefined && !isObject(actor)) throw new EventFieldError('Actor', 'not an object');
  const id = actor?.['ID'] ?? msg['id'];
  if (typeof id !== 'string' || id === '') throw new EventFieldError('Actor.ID', `not a container ID: ${JSON.stringify(id)}`);
  const at = eventTime(msg);
  const base = at ? { id, at } : { id };
  if (type !== 'updated') return { type, ...base };
  const attributes = actor?.['Attributes'];
  const name = isObject(attributes) ? attributes['name'] : undefined;
  if (typeof name !== 'string' || name === '') {
    throw new EventFieldError('Actor.Attributes.name', `rename without a new name: ${JSON.stringify(name)}`);
  }
  return { type, ...base, name: name.replace(/^\//, '') };
}

const ACTIONS = new Map<string, 'started' | 'died' | 'paused' | 'unpaused' | 'updated'>([
  ['start', 'started'],
  ['die', 'died'],
  ['died', 'died'],
  ['pause', 'paused'],
  ['unpause', 'unpaused'],
  ['rename', 'updated'],
]);

function eventTime(msg: Record<string, unknown>): Date | undefined {
  const nano = msg['timeNano'];
  if (typeof nano === 'number' && nano > 0) return new Date(Math.floor(nano / 1e6));
  const secs = msg['time'];
  if (typeof secs === 'number' && secs > 0) return new Date(secs * 1000);
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
