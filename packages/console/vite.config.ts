import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

/**
 * Built into dist/, which the server serves at /console/ (src/modules/console/):
 * hashed file names under assets/ (cached for a year), index.html revalidated.
 * `npm run console:dev` proxies /api to a server on :11075 for hot reload.
 */
export default defineConfig({
  base: '/console/',
  plugins: [vue()],
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets', chunkSizeWarningLimit: 600 },
  server: {
    proxy: { '/api': { target: 'http://localhost:11075', ws: true } },
  },
});
