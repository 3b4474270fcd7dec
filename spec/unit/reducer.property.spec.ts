import { expect } from 'chai';
import fc from 'fast-check';
import type { ReconciliationRules } from '../../lib/reducer.js';
import { CHOICE_KINDS, type Choice, Simulation, problems } from '../support/simulator.js';

const runs = Number(process.env.WHALEWATCHER_PROPERTY_RUNS ?? 1000);

const choice: fc.Arbitrary<Choice> = fc.record({
  kind: fc.nat(CHOICE_KINDS - 1),
  a: fc.nat(11),
  b: fc.nat(11),
});
const histories = fc.array(choice, { maxLength: 150, size: 'max' });

const holds = (rules?: ReconciliationRules) =>
  fc.property(fc.boolean(), histories, (detailedList, choices) => {
    const found = problems(new Simulation(rules, detailedList).run(choices));
    if (found.length) throw new Error(found.join('\n'));
  });

describe('reducer against an independent engine simulator (fast-check)', function () {
  this.timeout(120_000);

  it(`converges to the engine's truth with legal lifecycle events (${runs} runs)`, () => {
    fc.assert(holds(), { numRuns: runs });
  });

  const all: ReconciliationRules = {
    diedDuringList: true,
    startedDuringList: true,
    latestPauseWins: true,
    noResurrection: true,
    earlierLifetimes: true,
  };
  for (const rule of Object.keys(all) as (keyof ReconciliationRules)[]) {
    it(`fails without the rule "${rule}"`, () => {
      const result = fc.check(holds({ ...all, [rule]: false }), { numRuns: Math.max(runs * 20, 20_000) });
      expect(result.failed, `no counterexample found with ${rule} disabled`).to.equal(true);
    });
  }
});
