import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { containerDetails, parseVerboseInfo, sandboxDetails } from '../../engines/cri/labels.js';
import { CRI_ANNOTATION_PREFIX, CRI_CONTAINER_NAME_LABEL, CRI_POD_NAME_LABEL, CRI_POD_NAMESPACE_LABEL, CRI_POD_UID_LABEL, CRI_SANDBOX_LABEL } from '../../engines/cri/labels.js';
import {
  ContainerStatusSchema,
  PodSandboxMetadataSchema,
  PodSandboxStatusSchema,
} from '../../protos/gen/runtime/v1/api_pb.js';

describe('CRI labels and names', () => {
  const pod = create(PodSandboxMetadataSchema, { name: 'web', namespace: 'shop', uid: 'u-1' });

  it('names sandboxes namespace/pod and marks them', () => {
    const status = create(PodSandboxStatusSchema, {
      id: 'sb1',
      metadata: pod,
      labels: { app: 'web' },
      annotations: { note: 'hi' },
    });
    const d = sandboxDetails(status, 42);
    assert.equal(d.id, 'sb1');
    assert.equal(d.name, 'shop/web');
    assert.equal(d.pid, 42);
    assert.equal(d.paused, false);
    assert.equal(d.raw, status);
    assert.deepEqual(d.labels, {
      app: 'web',
      [`${CRI_ANNOTATION_PREFIX}note`]: 'hi',
      [CRI_POD_NAME_LABEL]: 'web',
      [CRI_POD_NAMESPACE_LABEL]: 'shop',
      [CRI_POD_UID_LABEL]: 'u-1',
      [CRI_SANDBOX_LABEL]: '',
    });
  });

  it('names containers namespace/pod/container, without the sandbox mark', () => {
    const status = create(ContainerStatusSchema, {
      id: 'c1',
      metadata: { name: 'nginx' },
      labels: { tier: 'front' },
      annotations: { 'io.kubernetes.container.hash': 'abc' },
    });
    const d = containerDetails(status, pod, 43);
    assert.equal(d.name, 'shop/web/nginx');
    assert.equal(d.raw, status);
    assert.deepEqual(d.labels, {
      tier: 'front',
      [`${CRI_ANNOTATION_PREFIX}io.kubernetes.container.hash`]: 'abc',
      [CRI_POD_NAME_LABEL]: 'web',
      [CRI_POD_NAMESPACE_LABEL]: 'shop',
      [CRI_POD_UID_LABEL]: 'u-1',
      [CRI_CONTAINER_NAME_LABEL]: 'nginx',
    });
    assert.ok(!(CRI_SANDBOX_LABEL in d.labels));
  });

  it('lets the pod facts win over same-named CRI labels', () => {
    const status = create(ContainerStatusSchema, {
      id: 'c1',
      metadata: { name: 'nginx' },
      labels: { [CRI_POD_NAME_LABEL]: 'lies' },
    });
    assert.equal(containerDetails(status, pod, 1).labels[CRI_POD_NAME_LABEL], 'web');
  });

  it('parses the PID and sandbox ID from verbose info', () => {
    assert.deepEqual(parseVerboseInfo({ info: '{"pid":4242,"sandboxID":"sb1"}' }), { pid: 4242, sandboxId: 'sb1' });
    assert.deepEqual(parseVerboseInfo({ info: '{"pid":7}' }), { pid: 7 });
  });

  it('says what is wrong with verbose info that gives no PID', () => {
    assert.deepEqual(parseVerboseInfo({}), { pid: 0, problem: 'it has no verbose info (no "info" entry)' });
    assert.deepEqual(parseVerboseInfo({ info: 'not json' }), { pid: 0, problem: 'its verbose info is not JSON: "not json"' });
    assert.deepEqual(parseVerboseInfo({ info: 'null' }), { pid: 0, problem: 'its verbose info is not a JSON object: "null"' });
    assert.deepEqual(parseVerboseInfo({ info: '{"pid":"12","sandboxID":"sb1"}' }), {
      pid: 0,
      sandboxId: 'sb1',
      problem: 'its verbose info has no positive integer "pid" (found "12")',
    });
    assert.equal(parseVerboseInfo({ info: '{"pid":0}' }).problem, 'its verbose info has no positive integer "pid" (found 0)');
    assert.equal(parseVerboseInfo({ info: '{}' }).problem, 'its verbose info has no positive integer "pid" (found none)');
    const long = parseVerboseInfo({ info: `<html>${'x'.repeat(500)}` }).problem!;
    assert.ok(long.length < 120, 'a long answer is cut in the message');
  });

  it("takes a PID outside Linux's 1..4,194,304 for no PID, saying so", () => {
    assert.deepEqual(parseVerboseInfo({ info: '{"pid":4194304}' }), { pid: 4_194_304 });
    assert.deepEqual(parseVerboseInfo({ info: '{"pid":4194305,"sandboxID":"sb1"}' }), {
      pid: 0,
      sandboxId: 'sb1',
      problem: "its verbose info claims PID 4194305, outside Linux's range 1..4194304",
    });
    assert.equal(parseVerboseInfo({ info: '{"pid":1e300}' }).pid, 0);
    assert.equal(parseVerboseInfo({ info: '{"pid":-5}' }).problem, 'its verbose info has no positive integer "pid" (found -5)');
  });
});
