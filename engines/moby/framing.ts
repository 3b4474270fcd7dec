import { StringDecoder } from 'node:string_decoder';

/**
 * Raised by {@link JsonStreamFramer} when the stream is not a sequence of JSON objects.
 *
 * @example
 * try { framer.write('garbage\n'); } catch (e) { if (e instanceof FramingError) console.error(e.message); }
 */
export class FramingError extends Error {
  override readonly name = 'FramingError';
  /** Objects the failing chunk completed before the error, in order. */
  framed: unknown[] = [];
}

/** Default upper bound for one buffered (incomplete) JSON object, in characters. */
const DEFAULT_MAX_OBJECT = 1 << 20;

/**
 * Cuts a byte stream of concatenated JSON objects into parsed values, whatever the chunking:
 * several objects in one chunk, one object (or one UTF-8 character) split across chunks, and
 * objects separated by newlines, other whitespace, or nothing at all. Anything between objects
 * that is not whitespace, an object that does not parse, or an object that grows past the size
 * bound throws a {@link FramingError} (whose `framed` holds the objects completed before it); the
 * framer is unusable afterwards.
 *
 * @example
 * const framer = new JsonStreamFramer();
 * framer.write('{"Action":"start"}\n{"Act');        // → [{ Action: 'start' }]
 * framer.write('ion":"die"}{"Action":"pause"}');   // → [{ Action: 'die' }, { Action: 'pause' }]
 * framer.end();                                    // → [] (throws if an object was left incomplete)
 */
export class JsonStreamFramer {
  private readonly decoder = new StringDecoder('utf8');
  /** Text of the object being assembled (from its opening brace). */
  private pending = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private failed = false;

  constructor(private readonly maxObject = DEFAULT_MAX_OBJECT) {}

  /** Feeds one chunk; returns the objects it completed, in order. */
  write(chunk: Buffer | Uint8Array | string): unknown[] {
    if (this.failed) throw new FramingError('framer already failed');
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(toBuffer(chunk));
    const out: unknown[] = [];
    try {
      this.scan(text, out);
      return out;
    } catch (err) {
      this.failed = true;
      if (err instanceof FramingError) err.framed = out;
      throw err;
    }
  }

  /** Ends the stream; throws when it ends inside an object. */
  end(): unknown[] {
    const rest = this.write(this.decoder.end());
    if (this.depth > 0 || this.pending.length > 0) {
      this.failed = true;
      throw new FramingError(`stream ended inside a JSON object: ${preview(this.pending)}`);
    }
    return rest;
  }

  private scan(text: string, out: unknown[]): void {
    let start = this.depth > 0 ? 0 : -1; // start of the current object within `text`
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.depth === 0) {
        if (c === 0x7b /* { */) {
          this.depth = 1;
          start = i;
        } else if (!isWhitespace(c)) {
          throw new FramingError(`unexpected ${JSON.stringify(text[i])} between JSON objects: ${preview(text.slice(i))}`);
        }
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b /* [ */) this.depth++;
      else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        if (--this.depth === 0) {
          const json = this.pending + text.slice(start, i + 1);
          this.pending = '';
          start = -1;
          out.push(parse(json));
        }
      }
    }
    if (this.depth > 0) {
      this.pending += text.slice(start);
      if (this.pending.length > this.maxObject) {
        throw new FramingError(`JSON object exceeds ${this.maxObject} characters: ${preview(this.pending)}`);
      }
    }
  }
}

function parse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch (err) {
    throw new FramingError(`malformed JSON object: ${preview(json)}`, { cause: err });
  }
}

function toBuffer(chunk: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function preview(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}
