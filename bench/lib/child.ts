import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Runs one scenario in a fresh Node process, so each contender gets its own JIT and heap state, and returns
 * the JSON it prints on its last line.
 */
export function runChild<T>(script: string, args: readonly string[], nodeFlags: readonly string[] = []): T {
  const path = fileURLToPath(new URL(`../${script}`, import.meta.url));
  const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', path, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const last = out.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as T;
}
