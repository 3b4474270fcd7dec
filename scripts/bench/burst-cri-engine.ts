/**
 * The fake CRI runtime of section 7, in a process of its own, so that the benchmark's process
 * runs only the watcher: its status calls answer in `LOOKUP_MS`, and on each `burst <pairs>` line
 * on stdin its event stream sends that many STARTED/STOPPED pairs of short-lived containers,
 * then the STARTED of the container `late`, and prints `sent <epoch ms>` at that last event.
 * Prints `socket <path>` once listening.
 *
 * Its `GetContainerEvents` writes each event straight onto the HTTP/2 stream (protobuf-es
 * `toBinary`, connect's gRPC envelope), not through connect-node's server pipeline: that pipeline
 * costs ~20 µs of CPU per message, so the fake itself took ~0.9 s to send a burst of 40,000
 * events and the figure measured the fake rather than the watcher. A runtime in Go sends them in
 * a fraction of that. Every other call goes through the fake's connect router.
 *
 * @module
 */
import * as http2 from 'node:http2';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { toBinary } from '@bufbuild/protobuf';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { encodeEnvelope } from '@connectrpc/connect/protocol';
import { ContainerEventResponseSchema, ContainerEventType, RuntimeService } from '../../protos/gen/runtime/v1/api_pb.js';
import { FakeCriServer } from '../../spec/support/reliability-grpc-fakes.js';
import { listenOnUnixSocket } from '../../spec/support/unix-socket-server.js';

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

const EVENTS_PATH = `/${RuntimeService.typeName}/${RuntimeService.method.getContainerEvents.name}`;

/** The fake's event stream as a gRPC server stream: one envelope per event, written as it comes. */
async function streamEvents(stream: http2.ServerHttp2Stream): Promise<void> {
  const abort = new AbortController();
  stream.on('close', () => abort.abort());
  stream.on('error', () => {}); // the watcher cancels the call: expected
  stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  for await (const event of fake.events.stream(abort.signal)) {
    if (stream.destroyed) break;
    stream.write(encodeEnvelope(0, toBinary(ContainerEventResponseSchema, event)));
  }
  if (!stream.destroyed) stream.end();
}

const fake = new FakeCriServer();
const connect = connectNodeAdapter({ routes: (router: ConnectRouter) => fake.routes(slowLookups(router)) });
const server = http2.createServer((req, res) => {
  if (req.url === EVENTS_PATH) void streamEvents(res.stream);
  else connect(req, res);
});
const unix = await listenOnUnixSocket(server, 'burst-cri');
fake.sandbox('pod', 'pod', 100);
console.log(`socket ${unix.path}`);
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
fake.events.fail();
await unix.close();
process.exit(0);
