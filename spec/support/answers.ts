/**
 * What adapters answer, unwrapped for suites that expect readable containers: a skipped one
 * fails the test with the adapter's reason.
 *
 * @module
 */
import { firstValueFrom, lastValueFrom } from 'rxjs';
import type { ContainerDetails, ContainerSummary, EngineAdapter, Inspection } from '../../lib/adapter.js';

/**
 * The containers of one list call; fails when the adapter skipped any.
 *
 * @example
 * const summaries = await listAlive(adapter);
 */
export async function listAlive(adapter: EngineAdapter): Promise<readonly ContainerSummary[]> {
  const { containers, skipped } = await lastValueFrom(adapter.list());
  if (skipped.length > 0) throw new Error(`the list skipped ${skipped.map((s) => `${s.id} (${s.skipped}: ${s.message})`).join(', ')}`);
  return containers;
}

/**
 * One inspection's details, or `null` (gone or not alive); fails when the adapter skipped it.
 *
 * @example
 * const details = await inspectAlive(adapter, id);
 */
export async function inspectAlive(adapter: EngineAdapter, id: string): Promise<ContainerDetails | null> {
  return readable(await firstValueFrom(adapter.inspect(id)));
}

/**
 * An inspection's answer as details or `null`; fails on a skip.
 *
 * @example
 * const details = readable(await firstValueFrom(adapter.inspect(id)));
 */
export function readable(answer: Inspection): ContainerDetails | null {
  if (answer !== null && 'skipped' in answer) throw new Error(`skipped ${answer.id} (${answer.skipped}): ${answer.message}`);
  return answer;
}
