// Build of the dashboard: one static bundle in dist/ that skiff-hub serves (index.html at `/`,
// hashed files under `/assets/`). Relative asset URLs so the page works under any prefix; no
// plugins: esbuild compiles the TSX with Preact's automatic JSX runtime.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  base: './',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: true,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
