// Builds the dashboard page into dist/ui, which src/dashboard serves. Relative asset URLs (`base: './'`) let
// the page live under any mount path; hashed names let the handler cache them forever.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be inline script, which the page's Content-Security-Policy forbids.
    modulePreload: { polyfill: false },
    // Nothing becomes a data: URL; every asset is a file the handler serves with its own type.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
