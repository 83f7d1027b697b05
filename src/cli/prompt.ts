import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { UsageError } from './cli.ts';

/**
 * One line reader for the whole command: answers piped in at once
 * (`printf 'a1\nboss\nsecret\n' | npm run create-admin`) are queued, not lost
 * between questions, and input that ends early is an error rather than a
 * silent exit 0.
 */
let reader: Interface | undefined;
let muted = false;
let ended = false;
const queued: string[] = [];
let waiting: { question: string; resolve(line: string): void; reject(error: Error): void } | undefined;

function noAnswer(question: string): UsageError {
  return new UsageError(`No answer to "${question.trim()}": standard input ended.`);
}

function lineReader(): Interface {
  if (reader) return reader;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stdout.write(chunk);
      done();
    },
  });
  reader = createInterface({ input: process.stdin, output, terminal: process.stdin.isTTY === true });
  reader.on('line', (line) => {
    const current = waiting;
    waiting = undefined;
    if (current) current.resolve(line);
    else queued.push(line);
  });
  reader.on('close', () => {
    ended = true;
    const current = waiting;
    waiting = undefined;
    current?.reject(noAnswer(current.question));
  });
  reader.on('SIGINT', () => {
    process.stdout.write('\n');
    process.exit(130);
  });
  return reader;
}

/** Asks a question on the terminal; with `hidden`, typed characters are not echoed. */
export async function prompt(question: string, { hidden = false } = {}): Promise<string> {
  const rl = lineReader();
  if (ended) {
    process.stdout.write(question);
  } else {
    rl.setPrompt(question);
    rl.prompt();
  }
  let answer = queued.shift();
  if (answer === undefined) {
    if (ended) throw noAnswer(question);
    muted = hidden;
    try {
      answer = await new Promise<string>((resolve, reject) => {
        waiting = { question, resolve, reject };
      });
    } finally {
      muted = false;
    }
  }
  // Paused between questions, so a finished command is not kept alive by its input.
  if (!ended) rl.pause();
  if (hidden) process.stdout.write('\n');
  return answer.trim();
}
