import Fastify from 'fastify';

/**
 * Fastify's hello world as a plain process, the idle-instance floor: the same
 * framework and Node as the service, one route, no logging, no plugins, and
 * no benchmark harness (no IPC channel), so it is started and measured
 * exactly like the service (`node --inspect=127.0.0.1:0 <file>`, memory read
 * through the inspector). Prints `{"port": N}` once listening.
 */
const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
