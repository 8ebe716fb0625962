import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REDIS_URL } from '../stores/redis-helpers.js';

// The real bin, run from source: `node --import tsx src/cli/main.ts` (the built dist/cli/main.js is the same code).
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tiercache <args>` as a child process against the test Redis and resolves with its exit code and output. */
export function cli(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { timeout: 60_000, env: { ...process.env, REDIS_URL } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}
