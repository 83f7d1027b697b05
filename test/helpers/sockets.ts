import WebSocket from 'ws';

/** An upgrade's outcome: an open socket (with its close, when it comes), or the HTTP refusal. */
export type Upgrade =
  | { open: true; ws: WebSocket; closed: Promise<{ code: number; reason: string }>; firstEvent: Promise<unknown> }
  | { open: false; status: number; body: any };

/** Opens a WebSocket to `path` on the server at `baseUrl` and reports how the upgrade went. */
export function upgrade(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<Upgrade> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}`, { headers });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const firstEvent = new Promise<unknown>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ open: true, ws, closed, firstEvent }));
    ws.once('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        ws.terminate();
        resolve({ open: false, status: response.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) });
      });
    });
    ws.once('error', (error) => reject(error));
  });
}

/** The open socket of an upgrade that must have succeeded. */
export function opened(result: Upgrade): Extract<Upgrade, { open: true }> {
  if (!result.open) throw new Error(`upgrade refused: ${result.status} ${JSON.stringify(result.body)}`);
  return result;
}
