import { expect } from 'chai';
import fc from 'fast-check';
import { FramingError, JsonStreamFramer } from '../../engines/moby/framing.js';

// Recorded from dockerd 20.10 (`/events` with container filters), one event per line.
const RECORDED = [
  '{"status":"start","id":"4c1e2b","from":"busybox:local","Type":"container","Action":"start","Actor":{"ID":"4c1e2b","Attributes":{"com.docker.compose.project":"shop","image":"busybox:local","name":"web-1"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}\n',
  '{"status":"pause","id":"4c1e2b","from":"busybox:local","Type":"container","Action":"pause","Actor":{"ID":"4c1e2b","Attributes":{"image":"busybox:local","name":"web-1"}},"scope":"local","time":1700000001,"timeNano":1700000001000000000}\n',
  '{"Type":"container","Action":"rename","Actor":{"ID":"4c1e2b","Attributes":{"name":"caf\u00e9-\u{1F40B}","oldName":"/web-1","note":"a } and a { and a \\" quote"}},"scope":"local","time":1700000002,"timeNano":1700000002000000000}\n',
  '{"status":"die","id":"4c1e2b","Type":"container","Action":"die","Actor":{"ID":"4c1e2b","Attributes":{"exitCode":"137","name":"café-🐋"}},"scope":"local","time":1700000003,"timeNano":1700000003000000000}\n',
];
const STREAM = Buffer.from(RECORDED.join(''), 'utf8');
const EXPECTED = RECORDED.map((l) => JSON.parse(l) as unknown);

function feed(chunks: (Buffer | string)[]): unknown[] {
  const framer = new JsonStreamFramer();
  const out: unknown[] = [];
  for (const c of chunks) out.push(...framer.write(c));
  out.push(...framer.end());
  return out;
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const sorted = [...new Set(cuts)].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const c of sorted) {
    parts.push(buf.subarray(last, c));
    last = c;
  }
  parts.push(buf.subarray(last));
  return parts;
}

describe('moby: JSON event stream framing', () => {
  it('frames one chunk holding several events', () => {
    expect(feed([STREAM])).to.deep.equal(EXPECTED);
  });

  it('frames one event split at every possible byte (also inside UTF-8 characters)', () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      expect(feed(splitAt(STREAM, [cut])), `cut at ${cut}`).to.deep.equal(EXPECTED);
    }
  });

  it('frames single-byte chunks', () => {
    expect(feed([...STREAM].map((b) => Buffer.from([b])))).to.deep.equal(EXPECTED);
  });

  it('frames objects concatenated without newlines, and with CRLF or blanks between them', () => {
    const bare = RECORDED.map((l) => l.trim());
    expect(feed([bare.join('')])).to.deep.equal(EXPECTED);
    expect(feed([bare.join('\r\n  \t')])).to.deep.equal(EXPECTED);
  });

  it('frames any chunking the same (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 30 }), (cuts) => {
        expect(feed(splitAt(STREAM, cuts))).to.deep.equal(EXPECTED);
      }),
    );
  });

  it('frames arbitrary JSON objects, however chunked (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.dictionary(fc.string(), fc.jsonValue()), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.boolean(),
        (objects, cuts, newlines) => {
          const buf = Buffer.from(objects.map((o) => JSON.stringify(o)).join(newlines ? '\n' : ''), 'utf8');
          const parts = splitAt(buf, cuts.map((c) => c % (buf.length + 1)));
          expect(feed(parts)).to.deep.equal(JSON.parse(JSON.stringify(objects)));
        },
      ),
    );
  });

  it('throws on garbage between objects', () => {
    const framer = new JsonStreamFramer();
    expect(framer.write('{"a":1}\n')).to.deep.equal([{ a: 1 }]);
    expect(() => framer.write('garbage\n')).to.throw(FramingError, /unexpected "g"/);
    expect(() => framer.write('{"b":2}')).to.throw(FramingError, /already failed/);
  });

  it('throws on a malformed object', () => {
    expect(() => feed(['{"a":1,}\n'])).to.throw(FramingError, /malformed JSON/);
    expect(() => feed(['{"a":[1}]\n'])).to.throw(FramingError, /malformed JSON/);
  });

  it('throws when the stream ends inside an object', () => {
    const framer = new JsonStreamFramer();
    framer.write('{"a":');
    expect(() => framer.end()).to.throw(FramingError, /ended inside/);
  });

  it('throws when an object outgrows the bound', () => {
    const framer = new JsonStreamFramer(100);
    expect(() => framer.write(`{"a":"${'x'.repeat(200)}`)).to.throw(FramingError, /exceeds 100/);
  });
});
