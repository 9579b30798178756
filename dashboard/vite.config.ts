import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    // `npm run dev -w @infra-ts/dashboard` talks to a local server on the default port.
    proxy: { '/api': { target: 'https://localhost:4443', secure: false } },
  },
});
