/**
 * The fake CRI runtime of section 7, in a process of its own, so that the benchmark's process
 * runs only the watcher: its status calls answer in `LOOKUP_MS`, and on each `burst <pairs>` line
 * on stdin its event stream sends that many STARTED/STOPPED pairs of short-lived containers,
 * then the STARTED of the container `late`, and prints `sent <epoch ms>` at that last event.
 * Prints `socket <path>` once listening.
 *
 * @module
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectRouter } from '@connectrpc/connect';
import { ContainerEventType } from '../../protos/gen/runtime/v1/api_pb.js';
import { FakeCriServer } from '../../spec/support/reliability-grpc-fakes.js';

export const LOOKUP_MS = 5;

/** The router, with every status call answering `LOOKUP_MS` later. */
function slowLookups(router: ConnectRouter): ConnectRouter {
  return new Proxy(router, {
    get(target, property, receiver) {
      if (property !== 'service') return Reflect.get(target, property, receiver) as unknown;
      return (service: never, impl: Record<string, (...a: unknown[]) => unknown>, options?: never) => {
        const slowed = Object.fromEntries(
          Object.entries(impl).map(([name, fn]) => [name, /Status$/.test(name) ? async (...a: unknown[]) => (await sleep(LOOKUP_MS), fn(...a)) : fn]),
        );
        return target.service(service, slowed as never, options);
      };
    },
  });
}

const fake = new FakeCriServer();
const routes = fake.routes;
fake.routes = (router: ConnectRouter) => routes(slowLookups(router));
await fake.start();
fake.sandbox('pod', 'pod', 100);
console.log(`socket ${fake.socket}`);
let run = 0;
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.split(' ');
  if (command !== 'burst') break;
  const pairs = Number(arg);
  run++;
  for (let i = 0; i < pairs; i++) {
    const id = `short${run}-${i}`;
    fake.container(id, 'pod', id, 1000 + (i % 1000));
    fake.emitWithStatuses(id, ContainerEventType.CONTAINER_STARTED_EVENT);
    fake.entities.delete(id);
    fake.emit(id, ContainerEventType.CONTAINER_STOPPED_EVENT);
  }
  const late = `late${run}`;
  fake.container(late, 'pod', late, 4242);
  fake.emitWithStatuses(late, ContainerEventType.CONTAINER_STARTED_EVENT);
  console.log(`sent ${performance.timeOrigin + performance.now()}`);
}
await fake.close();
process.exit(0);
