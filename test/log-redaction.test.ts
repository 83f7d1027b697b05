import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { redactUrl } from '../src/http/logging.ts';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import type { RunningServer } from '../src/server.ts';
import { type LoggedServer, startLoggedServer } from './helpers/logged-server.ts';
import { opened, upgrade } from './helpers/sockets.ts';
import { insertTestUser } from './helpers/users.ts';

test('redactUrl hides credentials however the parameter name is spelled', () => {
  const cases: [string, string][] = [
    ['/api/ws/b1?token=abc', '/api/ws/b1?token=[REDACTED]'],
    ['/api/ws/b1?%74oken=abc', '/api/ws/b1?%74oken=[REDACTED]'],
    ['/api/ws/b1?%2574oken=abc', '/api/ws/b1?%2574oken=[REDACTED]'],
    ['/api/ws/b1?TOKEN=abc&x=1', '/api/ws/b1?TOKEN=[REDACTED]&x=1'],
    ['/api/ws/b1?x=1;ticket=abc', '/api/ws/b1?x=1;ticket=[REDACTED]'],
    ['/api/ws/b1?access%5Ftoken=abc', '/api/ws/b1?access%5Ftoken=[REDACTED]'],
    ['/api/ws/b1?t%6Fken=abc&%ZZ=1', '/api/ws/b1?t%6Fken=[REDACTED]&%ZZ=1'],
    ['/api/messages/?page=2', '/api/messages/?page=2'],
  ];
  for (const [url, expected] of cases) assert.equal(redactUrl(url), expected, url);
});

/** A raw GET: fetch would normalise some spellings before they reach the server. */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${base}${path}`, { method: 'GET', headers }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('no log line carries a token or a ticket, at debug level', () => {
  const lines: string[] = [];
  const destination = {
    write(chunk: string) {
      lines.push(chunk);
    },
  };
  let logged: LoggedServer;
  let server: RunningServer;
  let token: string;

  before(async () => {
    logged = await startLoggedServer(destination, 'debug');
    server = logged.server;
    await insertTestUser(server.database.db, 'b1', 'buyer');
    const { config } = logged;
    const tokens = createTokenIssuer({ secret: config.JWT_SECRET_KEY, algorithm: 'HS256', expireDays: 1 });
    token = (await tokens.issue('b1', 'buyer')).token;
  });
  after(() => logged.close());

  test('REST and WebSocket requests with credentials in the query, under every spelling', async () => {
    const base = server.url;
    const secrets = Array.from({ length: 8 }, (_, i) => `SECRET${i}x${'q'.repeat(20)}`);
    const paths = [
      `/api/auth/me?%74oken=${secrets[0]}`,
      `/api/nowhere?token=${secrets[1]}`,
      `/api/users/?access%5Ftoken=${secrets[2]}&page=x`,
      `/api/health?TOKEN=${secrets[3]};ticket=${secrets[4]}`,
      `/api/auth/me?%2574oken=${secrets[5]}`,
    ];
    for (const path of paths) await rawGet(base, path);
    const refusedTicket = await upgrade(base, `/api/ws/b1?ticket=${'A'.repeat(39)}${secrets[6]?.slice(0, 4)}`);
    assert.equal(refusedTicket.open, false);
    const refusedToken = await upgrade(base, `/api/ws/b1?%74oken=${secrets[7]}`);
    assert.equal(refusedToken.open, false);
    const socket = opened(await upgrade(base, `/api/ws/b1?%74oken=${token}`));
    await socket.firstEvent;
    const issued = await fetch(`${base}/api/ws/ticket`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    const { ticket } = (await issued.json()) as { ticket: string };
    const byTicket = opened(await upgrade(base, `/api/ws/b1?ticket=${ticket}`));
    await byTicket.firstEvent;
    socket.ws.close();
    byTicket.ws.close();
    await Promise.all([socket.closed, byTicket.closed]);
    await server.realtime.settled();

    const log = lines.join('');
    assert.ok(log.includes('/api/health?TOKEN=[REDACTED]'), 'requests were logged');
    for (const secret of [...secrets, token, ticket, `${'A'.repeat(39)}SECR`]) {
      assert.ok(!log.includes(secret), `a log line holds ${secret.slice(0, 12)}…`);
    }
  });
});
