import { expect } from 'chai';
import { Subject } from 'rxjs';
import type { EngineEvent } from '../../lib/adapter.js';
import { SkippedContainers } from '../../engines/skipped.js';

describe('SkippedContainers', () => {
  it('tells skips on the event stream while it runs, then ends with it', () => {
    const skipped = new SkippedContainers();
    const engine = new Subject<EngineEvent>();
    const seen: EngineEvent[] = [];
    let ended: unknown;
    skipped.along(engine).subscribe({ next: (e) => seen.push(e), error: (e: unknown) => (ended = e) });
    expect(skipped.skip('c1', 'unknown-status', 'status 99')).to.equal(null);
    engine.next({ type: 'live' });
    engine.error(new Error('gone'));
    skipped.skip('c2', 'unknown-status', 'after the stream ended: told to nobody');
    expect(seen).to.deep.equal([
      { type: 'diagnostic', code: 'unknown-status', id: 'c1', message: 'skipped c1: status 99' },
      { type: 'live' },
    ]);
    expect(ended).to.be.instanceOf(Error);
  });

  it('keeps no subscription once the event stream is unsubscribed', () => {
    const skipped = new SkippedContainers();
    const engine = new Subject<EngineEvent>();
    const seen: EngineEvent[] = [];
    skipped.along(engine).subscribe((e) => seen.push(e)).unsubscribe();
    skipped.skip('c1', 'no-pid', 'nobody listens');
    expect(engine.observed).to.equal(false);
    expect(seen).to.deep.equal([]);
  });
});
