/**
 * Draws frames in place: on a terminal, the alternate screen with the cursor hidden, each frame
 * replacing the previous one (restored by {@link LiveScreen.end}); elsewhere (a pipe, a file)
 * the frames one after the other, separated by a blank line. Frames must be escaped already.
 *
 * @example
 * const screen = new LiveScreen(process.stdout);
 * screen.draw('frame 1\n');
 * screen.end();
 */
export class LiveScreen {
  #started = false;
  #last = '';

  constructor(readonly stream: NodeJS.WriteStream) {}

  get isTerminal(): boolean {
    return Boolean(this.stream.isTTY);
  }

  draw(frame: string): void {
    if (frame === this.#last) return;
    this.#last = frame;
    if (!this.isTerminal) {
      this.stream.write(`${frame}\n`);
      return;
    }
    if (!this.#started) {
      this.#started = true;
      this.stream.write('\x1b[?1049h\x1b[?25l');
    }
    // Home, the frame with each line cleared to its end, then clear below.
    const rows = this.stream.rows || 0;
    let lines = frame.replace(/\n$/, '').split('\n');
    if (rows > 0 && lines.length > rows) lines = [...lines.slice(0, rows - 1), `… ${lines.length - rows + 1} more lines`];
    this.stream.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\x1b[J`);
  }

  end(): void {
    if (this.#started && this.isTerminal) this.stream.write('\x1b[?25h\x1b[?1049l');
    this.#started = false;
  }
}
