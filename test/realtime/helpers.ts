/**
 * What the realtime tests import, by its old address: servers come from the
 * one harness (test/helpers/test-app.ts), WebSocket clients from
 * test/helpers/sockets.ts, waiting from test/helpers/polling.ts.
 */

export { eventually, WAIT_MS } from '../helpers/polling.ts';
export { type ConnectOptions, type Event, TestSocket } from '../helpers/sockets.ts';
export {
  type RealtimeTestApp,
  type RealtimeTestOptions,
  startRealtimeApp,
  type TestRedis,
} from '../helpers/test-app.ts';
