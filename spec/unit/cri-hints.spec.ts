import assert from 'node:assert/strict';
import { DEFAULT_MAX_HINTS, LookupHints } from '../../engines/cri/hints.js';

describe('CRI lookup hints', () => {
  const pod = { $typeName: 'runtime.v1.PodSandboxMetadata', name: 'web', uid: 'u1', namespace: 'shop', attempt: 0 } as const;

  it('hands a hint out once', () => {
    const hints = new LookupHints();
    hints.set('c1', { sandbox: false, pod });
    assert.deepEqual(hints.get('c1'), { sandbox: false, pod });
    assert.deepEqual(hints.take('c1'), { sandbox: false, pod });
    assert.equal(hints.take('c1'), undefined);
    assert.equal(hints.size, 0);
  });

  it('caps its size, dropping the oldest; setting an ID again makes it the newest', () => {
    assert.equal(DEFAULT_MAX_HINTS, 10_000);
    const hints = new LookupHints(3);
    for (const id of ['a', 'b', 'c']) hints.set(id, { sandbox: true });
    hints.set('a', { sandbox: true });
    hints.set('d', { sandbox: true });
    assert.equal(hints.size, 3);
    assert.equal(hints.get('b'), undefined, 'b was the oldest');
    for (const id of ['a', 'c', 'd']) assert.ok(hints.get(id), id);
  });

  it('prunes only the hints older than the mark whose IDs are not alive', () => {
    const hints = new LookupHints();
    hints.set('gone', { sandbox: true });
    hints.set('alive', { sandbox: true });
    const mark = hints.mark();
    hints.set('started-during-the-list', { sandbox: false, pod: undefined });
    hints.prune(new Set(['alive']), mark);
    assert.equal(hints.get('gone'), undefined);
    assert.ok(hints.get('alive'));
    assert.ok(hints.get('started-during-the-list'));
    hints.delete('alive');
    hints.clear();
    assert.equal(hints.size, 0);
  });
});
