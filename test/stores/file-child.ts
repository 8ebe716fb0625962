// A second process for the file store tests: node --import tsx test/stores/file-child.ts <mode> <directory>
// Modes that race with the parent print "ready" and wait for a line on stdin, so both sides start together.
import { createInterface } from 'node:readline';
import { fileStore } from '../../src/stores/file.js';

const [mode, directory] = process.argv.slice(2);
if (directory === undefined) throw new Error('usage: file-child.ts <write|add|idle> <directory>');

async function go(): Promise<void> {
  console.log('ready');
  const lines = createInterface({ input: process.stdin });
  for await (const _ of lines) break;
  lines.close();
}

const later = (ms: number) => Date.now() + ms;

if (mode === 'write') {
  // Whole-file values of one repeated byte: any mix of two writes shows as two different bytes.
  const store = fileStore({ directory, cleanupInterval: 0 });
  await go();
  for (let i = 0; i < 60; i++) await store.set('k', new Uint8Array(256 * 1024).fill(100 + (i % 100)), later(60_000));
  await store.close();
  console.log('done');
} else if (mode === 'add') {
  const store = fileStore({ directory, cleanupInterval: 0 });
  await go();
  const wins = await Promise.all(Array.from({ length: 50 }, (_, i) => store.add(`race${i}`, Uint8Array.of(2), later(60_000))));
  await store.close();
  console.log(JSON.stringify(wins));
} else if (mode === 'idle') {
  // Never closed: the process must still exit, so the cleanup timers must not hold the event loop.
  const store = fileStore({ directory, cleanupInterval: 20 });
  fileStore({ directory, prefix: 'other' });
  await store.set('k', Uint8Array.of(1), later(60_000));
  console.log('done');
} else {
  throw new Error(`unknown mode ${String(mode)}`);
}
