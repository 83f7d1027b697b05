import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';

/**
 * Test-only, loaded into a server child with `node --import`: a request
 * carrying `X-Test-Crash` makes the process fail the way it names while that
 * very request is still in flight (its headers parsed, its body still to come).
 */
subscribe('http.server.request.start', (message) => {
  const { request } = message as { request: IncomingMessage };
  const kind = request.headers['x-test-crash'];
  if (kind === 'unhandled-rejection') {
    // Nobody awaits or catches this promise.
    Promise.reject(new Error('test: a promise nobody awaited'));
  } else if (kind === 'uncaught-exception') {
    setImmediate(() => {
      throw new Error('test: thrown from a timer');
    });
  }
});
