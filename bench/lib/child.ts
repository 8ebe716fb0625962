import { execFileSync } from 'node:child_process';
import os from 'node:os';
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

/**
 * {@link runChild} for a report section: logs what runs, records the load average, and turns a failure into the
 * message shown in place of the result.
 */
export function attemptChild<T>(section: string, script: string, what: string, args: readonly string[], loads: number[]): T | string {
  console.error(`${section}: ${what}`);
  loads.push(os.loadavg()[0] ?? 0);
  try {
    return runChild<T>(script, args);
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    console.error(`${section}: ${what} failed: ${message}`);
    return `${what} failed: ${message}`;
  }
}
