/**
 * containerd event envelopes → the core's engine events (pure functions, no I/O).
 *
 * @module
 */
import { createRegistry, isMessage, type Message } from '@bufbuild/protobuf';
import { anyUnpack, timestampDate } from '@bufbuild/protobuf/wkt';
import type { EngineEvent } from '../../lib/adapter.js';
import type { Envelope } from '../../protos/gen/containerd/services/events/v1/events_pb.js';
import {
  TaskExitSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from '../../protos/gen/containerd/events/task_pb.js';
import { ContainerUpdateSchema } from '../../protos/gen/containerd/events/container_pb.js';
import { NamespaceCreateSchema } from '../../protos/gen/containerd/events/namespace_pb.js';
import { MAX_PID } from '../../lib/reducer.js';
import type { LookupHints } from '../hints.js';
import { containerName, qualify } from './names.js';

/**
 * The event topics a containerd watcher subscribes to.
 *
 * @example
 * EVENT_TOPICS.includes('/tasks/exit'); // true
 */
export const EVENT_TOPICS: readonly string[] = [
  '/tasks/start',
  '/tasks/exit',
  '/tasks/paused',
  '/tasks/resumed',
  '/containers/update',
  '/namespaces/create',
];

/**
 * The payload types the watcher understands, for `anyUnpack` (containerd's type URLs are the
 * bare full names, e.g. `containerd.events.TaskStart`).
 *
 * @example
 * const message = anyUnpack(envelope.event!, eventRegistry);
 */
export const eventRegistry = createRegistry(
  TaskStartSchema,
  TaskExitSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  ContainerUpdateSchema,
  NamespaceCreateSchema,
);

/**
 * Subscription filters for the given topics; containerd ORs several filters.
 *
 * @example
 * topicFilters(['/tasks/start']); // ['topic=="/tasks/start"']
 */
export function topicFilters(topics: readonly string[]): string[] {
  return topics.map((topic) => `topic==${JSON.stringify(topic)}`);
}

/**
 * Maps one event envelope to the core's vocabulary, or `undefined` when the envelope is of no
 * concern (a namespace not watched). Exits of exec'd processes and payloads the watcher does not
 * understand become `diagnostic` events; they never end a container.
 *
 * Given `pids`, it also keeps them for the inspections that follow (no call, no I/O): a
 * `/tasks/start` remembers the started task's PID under the container's watcher ID (a PID
 * outside 1..{@link MAX_PID} forgets it instead); a pause, or an exit of the container's own
 * process, forgets it.
 *
 * @example
 * const pids = new LookupHints<number>();
 * const event = envelopeEvent(envelope, namespaceFilter({}), pids);
 * if (event) subscriber.next(event); // a 'started' left its PID in pids
 */
export function envelopeEvent(
  envelope: Envelope,
  watched: (namespace: string) => boolean,
  pids?: LookupHints<number>,
): EngineEvent | undefined {
  const { namespace, topic } = envelope;
  if (!watched(namespace)) return undefined;
  const at = envelope.timestamp ? timestampDate(envelope.timestamp) : undefined;
  let payload: Message | undefined;
  try {
    payload = envelope.event ? anyUnpack(envelope.event, eventRegistry) : undefined;
  } catch (err) {
    return unknown(envelope, `its ${envelope.event?.typeUrl} payload does not parse: ${String(err)}`);
  }
  if (payload === undefined) return unknown(envelope, `payload type ${envelope.event?.typeUrl || '(none)'} is unknown`);
  switch (topic) {
    case '/tasks/start': {
      if (!isMessage(payload, TaskStartSchema)) break;
      const id = qualify(namespace, payload.containerId);
      if (payload.pid >= 1 && payload.pid <= MAX_PID) pids?.set(id, payload.pid);
      else pids?.delete(id); // the inspection asks the engine, which tells why it cannot be read
      return { type: 'started', id, ...(at && { at }) };
    }
    case '/tasks/exit': {
      if (!isMessage(payload, TaskExitSchema)) break;
      const id = qualify(namespace, payload.containerId);
      if (payload.id !== payload.containerId) {
        return {
          type: 'diagnostic',
          code: 'exec-exit',
          message: `exec'd process ${payload.id} (PID ${payload.pid}) of container ${id} exited with ${payload.exitStatus}; the container lives on`,
          id,
        };
      }
      pids?.delete(id);
      const exitedAt = payload.exitedAt ? timestampDate(payload.exitedAt) : at;
      return { type: 'died', id, pid: payload.pid, ...(exitedAt && { at: exitedAt }) };
    }
    case '/tasks/paused': {
      if (!isMessage(payload, TaskPausedSchema)) break;
      const id = qualify(namespace, payload.containerId);
      pids?.delete(id); // the hint says running: an inspection from now on asks for the task
      return { type: 'paused', id, ...(at && { at }) };
    }
    case '/tasks/resumed':
      if (!isMessage(payload, TaskResumedSchema)) break;
      return { type: 'unpaused', id: qualify(namespace, payload.containerId), ...(at && { at }) };
    case '/containers/update':
      if (!isMessage(payload, ContainerUpdateSchema)) break;
      return {
        type: 'updated',
        id: qualify(namespace, payload.id),
        name: containerName(namespace, payload.id, payload.labels),
        labels: { ...payload.labels },
        ...(at && { at }),
      };
    case '/namespaces/create':
      if (!isMessage(payload, NamespaceCreateSchema)) break;
      return { type: 'resync' };
  }
  return unknown(envelope, `payload type ${payload.$typeName} is unexpected for this topic`);
}

function unknown(envelope: Envelope, why: string): EngineEvent {
  return {
    type: 'diagnostic',
    code: 'unknown-event',
    message: `skipped containerd event ${envelope.topic} in namespace ${envelope.namespace}: ${why}`,
  };
}
