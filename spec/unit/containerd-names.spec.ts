import assert from 'node:assert/strict';
import { containerName, namespaceFilter, qualify, unqualify } from '../../engines/containerd/names.js';

describe('containerd naming', () => {
  it('qualifies IDs with their namespace, bare in default', () => {
    assert.equal(qualify('default', 'c1'), 'c1');
    assert.equal(qualify('prod', 'c1'), 'prod/c1');
    assert.deepEqual(unqualify('prod/c1'), { namespace: 'prod', id: 'c1' });
    assert.deepEqual(unqualify('c1'), { namespace: 'default', id: 'c1' });
  });

  it('names containers from nerdctl/name, else the ID, in the same form', () => {
    assert.equal(containerName('default', 'c1', { 'nerdctl/name': 'web' }), 'web');
    assert.equal(containerName('prod', 'c1', { 'nerdctl/name': 'web' }), 'prod/web');
    assert.equal(containerName('prod', 'c1', {}), 'prod/c1');
    assert.equal(containerName('prod', 'c1', { 'nerdctl/name': '' }), 'prod/c1');
  });

  it('skips moby and k8s.io by default, and honours ignore and allow lists', () => {
    const byDefault = namespaceFilter({});
    assert.equal(byDefault('moby'), false);
    assert.equal(byDefault('k8s.io'), false);
    assert.equal(byDefault('default'), true);
    const custom = namespaceFilter({ ignoredNamespaces: ['x'], namespaces: ['x', 'moby', 'a'] });
    assert.equal(custom('x'), false);
    assert.equal(custom('moby'), true);
    assert.equal(custom('a'), true);
    assert.equal(custom('b'), false);
  });
});
