import Fastify from 'fastify';
import { serve } from '../workers/runtime.ts';

/**
 * Fastify's hello world, the REST floor: the same framework and version as
 * the service, one route, no logging, no plugins.
 */
const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));

serve({
  async listen(args: { host: string }) {
    await app.listen({ host: args.host, port: 0 });
    const address = app.server.address();
    return { port: typeof address === 'object' && address ? address.port : 0 };
  },
  async __exit() {
    await app.close();
  },
});
