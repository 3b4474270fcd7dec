/**
 * Makes untrusted text (container names, labels, engine answers) safe for a terminal: C0 and C1
 * control characters, DEL, and Unicode bidirectional and line/paragraph separators are written
 * as visible escapes (`\e`, `\n`, `\x07`, `\u{202e}`), and a backslash as `\\`, so the output is
 * unambiguous and no escape sequence ever reaches the terminal.
 *
 * @example
 * escapeTerminal('evil\x1b[2Jname'); // 'evil\\e[2Jname'
 */
export function escapeTerminal(text: string): string {
  return text.replace(UNSAFE, (ch) => NAMED[ch] ?? hex(ch));
}

// C0, DEL, C1, bidi embeddings/overrides/isolates, LRM/RLM/ALM, line and paragraph separators.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\\\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\x1b': '\\e',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function hex(ch: string): string {
  const code = ch.codePointAt(0)!;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/**
 * `JSON.stringify(value)` with the characters a terminal or text viewer would act on written as
 * `\uXXXX` escapes: DEL, C1 controls, bidi marks, embeddings, overrides and isolates, and the
 * line and paragraph separators (JSON.stringify escapes only C0). Same value once parsed.
 *
 * @example
 * safeJson({ name: 'a\u202eb' }); // '{"name":"a\\u202eb"}'
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_IN_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
