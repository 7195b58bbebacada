import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));
/** Where `framewire serve` listens for HTTP (/ws, /api) during development; FRAMEWIRE_SERVER overrides it. */
const server = process.env.FRAMEWIRE_SERVER ?? 'http://127.0.0.1:7480';

// The app lives in web/ but imports the wire protocol from src/protocol, so the dev server may read the repo.
export default defineConfig({
  root: here,
  build: {
    outDir: `${repo}dist/web`,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    fs: { allow: [repo] },
    proxy: {
      '/ws': { target: server, ws: true },
      '/api': { target: server },
    },
  },
});
