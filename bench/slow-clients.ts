import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/config.ts';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { EDGE_LIMITS } from '../src/http/edge-limits.ts';
import { createLogger } from '../src/http/logging.ts';
import { startServer } from '../src/server.ts';
import { scrape } from '../test/helpers/metrics.ts';
import { testEnv } from '../test/helpers/test-app.ts';

/**
 * The slow-body attack of issue 12 item 6 replayed against the production
 * limits (EDGE_LIMITS): N sockets (default 3,000) from one address, each
 * sending a POST body one byte every 10 s. Reports how many were refused
 * (429, per-address cap), how many were answered or cut, and how long until
 * every one was closed. Standalone, not part of `npm run bench`:
 *
 *   ulimit -n 20000; node bench/slow-clients.ts 3000
 */

const sockets = Number(process.argv[2] ?? 3_000);
const BYTE_EVERY_MS = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'chat-slow-clients-'));
const config = parseConfig(testEnv({ DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`, MEDIA_DIR: join(dir, 'media') }));
const migrator = openDatabase(config.DATABASE_URL);
await migrateToLatest(migrator.db);
await migrator.destroy();
const server = await startServer(config, createLogger({ level: 'silent' }));
const { port } = new URL(server.url);

const started = performance.now();
const firstStatus = new Map<string, number>();
await Promise.all(
  Array.from(
    { length: sockets },
    () =>
      new Promise<void>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1');
        let answer = '';
        let timer: NodeJS.Timeout | undefined;
        socket.on('error', () => {});
        socket.on('data', (chunk: Buffer) => {
          answer += chunk.toString('latin1');
        });
        socket.on('connect', () => {
          socket.write(
            'POST /api/messages/ HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
          );
          timer = setInterval(() => socket.write(' '), BYTE_EVERY_MS);
        });
        socket.on('close', () => {
          clearInterval(timer);
          const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 'none';
          firstStatus.set(status, (firstStatus.get(status) ?? 0) + 1);
          resolve();
        });
      }),
  ),
);
const seconds = (performance.now() - started) / 1000;
const metrics = await scrape(server.url);
console.log(
  JSON.stringify(
    {
      sockets,
      limits: EDGE_LIMITS,
      firstAnswerByStatus: Object.fromEntries(firstStatus),
      allClosedAfterSeconds: Math.round(seconds * 10) / 10,
      refusals: Object.fromEntries(
        metrics.find('chat_http_edge_refusals_total').map((sample) => [sample.labels.reason, sample.value]),
      ),
    },
    null,
    2,
  ),
);
await server.close();
rmSync(dir, { recursive: true, force: true });
