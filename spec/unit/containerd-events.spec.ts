import assert from 'node:assert/strict';
import { create, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { envelopeEvent, topicFilters } from '../../engines/containerd/events.js';
import { namespaceFilter } from '../../engines/containerd/names.js';
import { ContainerUpdateSchema } from '../../protos/gen/containerd/events/container_pb.js';
import { NamespaceCreateSchema } from '../../protos/gen/containerd/events/namespace_pb.js';
import {
  TaskExitSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from '../../protos/gen/containerd/events/task_pb.js';
import { EnvelopeSchema, type Envelope } from '../../protos/gen/containerd/services/events/v1/events_pb.js';

const at = new Date('2026-01-02T03:04:05.678Z');
const watched = namespaceFilter({});

/** An envelope as containerd sends it: the Any's type URL is the bare full name. */
function envelope<D extends DescMessage>(namespace: string, topic: string, schema: D, init: MessageInitShape<D>): Envelope {
  const event = anyPack(schema, create(schema, init));
  event.typeUrl = schema.typeName;
  return create(EnvelopeSchema, { namespace, topic, timestamp: timestampFromDate(at), event });
}

describe('containerd events', () => {
  it('builds ORed topic filters', () => {
    assert.deepEqual(topicFilters(['/tasks/start', '/a/b']), ['topic=="/tasks/start"', 'topic=="/a/b"']);
  });

  it('maps task start, pause, resume with namespaced IDs and the engine time', () => {
    assert.deepEqual(envelopeEvent(envelope('default', '/tasks/start', TaskStartSchema, { containerId: 'c1', pid: 42 }), watched), {
      type: 'started', id: 'c1', at,
    });
    assert.deepEqual(envelopeEvent(envelope('prod', '/tasks/paused', TaskPausedSchema, { containerId: 'c1' }), watched), {
      type: 'paused', id: 'prod/c1', at,
    });
    assert.deepEqual(envelopeEvent(envelope('prod', '/tasks/resumed', TaskResumedSchema, { containerId: 'c1' }), watched), {
      type: 'unpaused', id: 'prod/c1', at,
    });
  });

  it("maps the init process' exit to died, at the exit time", () => {
    const exitedAt = new Date('2026-01-02T03:04:05Z');
    const e = envelope('prod', '/tasks/exit', TaskExitSchema, {
      containerId: 'c1', id: 'c1', pid: 42, exitStatus: 137, exitedAt: timestampFromDate(exitedAt),
    });
    assert.deepEqual(envelopeEvent(e, watched), { type: 'died', id: 'prod/c1', pid: 42, at: exitedAt });
  });

  it("does not mistake an exec'd process' exit for the container's end", () => {
    const e = envelope('prod', '/tasks/exit', TaskExitSchema, { containerId: 'c1', id: 'exec1', pid: 43, exitStatus: 0 });
    const event = envelopeEvent(e, watched);
    assert.equal(event?.type, 'diagnostic');
    assert.ok(event?.type === 'diagnostic' && event.code === 'exec-exit' && event.id === 'prod/c1');
  });

  it('maps a label update to updated, with the new name and all labels', () => {
    const labels = { 'nerdctl/name': 'api', 'com.docker.compose.project': 'p2' };
    const e = envelope('prod', '/containers/update', ContainerUpdateSchema, { id: 'c1', labels });
    assert.deepEqual(envelopeEvent(e, watched), { type: 'updated', id: 'prod/c1', name: 'prod/api', labels, at });
  });

  it('asks for a resync when a watched namespace is created', () => {
    const e = envelope('fresh', '/namespaces/create', NamespaceCreateSchema, { name: 'fresh' });
    assert.deepEqual(envelopeEvent(e, watched), { type: 'resync' });
  });

  it('skips ignored namespaces and those outside the allow-list', () => {
    const start = (ns: string) => envelope(ns, '/tasks/start', TaskStartSchema, { containerId: 'c1', pid: 42 });
    assert.equal(envelopeEvent(start('moby'), watched), undefined);
    assert.equal(envelopeEvent(start('k8s.io'), watched), undefined);
    assert.equal(envelopeEvent(start('other'), namespaceFilter({ namespaces: ['default'] })), undefined);
  });

  it('turns unknown payload types, mismatched and broken payloads into diagnostics', () => {
    const unknownType = create(EnvelopeSchema, {
      namespace: 'default', topic: '/tasks/oom', event: { typeUrl: 'containerd.events.TaskOOM', value: new Uint8Array([10, 2, 99, 49]) },
    });
    const mismatch = envelope('default', '/tasks/start', TaskPausedSchema, { containerId: 'c1' });
    const broken = create(EnvelopeSchema, {
      namespace: 'default', topic: '/tasks/start', event: { typeUrl: 'containerd.events.TaskStart', value: new Uint8Array([10, 200]) },
    });
    const empty = create(EnvelopeSchema, { namespace: 'default', topic: '/tasks/start' });
    for (const e of [unknownType, mismatch, broken, empty]) {
      const event = envelopeEvent(e, watched);
      assert.ok(event?.type === 'diagnostic' && event.code === 'unknown-event', JSON.stringify(event));
    }
  });
});
