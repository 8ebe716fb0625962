// Heap figures for the memory benchmarks: run with `node --expose-gc`.

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap bytes in use after forced collections, typed arrays' buffers included (they live outside the JS heap). */
export function settledHeap(): number {
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}
