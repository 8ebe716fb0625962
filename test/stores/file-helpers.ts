import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const made: string[] = [];
const children = new Set<ChildProcessWithoutNullStreams>();

/** A fresh temporary directory, removed by {@link removeTempDirs}. */
export function tempDir(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tiercache-file-'));
  made.push(directory);
  return directory;
}

export function removeTempDirs(): void {
  for (const directory of made.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
}

/** Every file under `directory`, as paths relative to it with `/` separators, sorted. */
export function filesUnder(directory: string): string[] {
  if (!fs.existsSync(directory)) return [];
  return fs
    .readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(directory, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

/** Kills (by PID) any child a failed test left running. */
export function killChildren(): void {
  for (const proc of children) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  children.clear();
}

export interface Child {
  process: ChildProcessWithoutNullStreams;
  /** Resolves with the next line the child prints. */
  line(): Promise<string>;
  /** Resolves with the exit code once the child has exited. */
  exited: Promise<number | null>;
}

/** Runs test/stores/file-child.ts in its own Node process. */
export function child(mode: string, directory: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/stores/file-child.ts'), mode, directory], {
    cwd: root,
    stdio: 'pipe',
  });
  children.add(proc);
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: proc.stdout });
  const pending: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (text) => {
    const next = waiting.shift();
    if (next === undefined) pending.push(text);
    else next(text);
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      children.delete(proc);
      if (code !== 0) process.stderr.write(`file-child ${mode} exited ${String(code)}: ${stderr}\n`);
      resolve(code);
    }),
  );
  return {
    process: proc,
    exited,
    line: () => {
      const next = pending.shift();
      if (next !== undefined) return Promise.resolve(next);
      return new Promise<string>((resolve, reject) => {
        waiting.push(resolve);
        void exited.then((code) => reject(new Error(`file-child ${mode} exited (${String(code)}) before printing: ${stderr}`)));
      });
    },
  };
}
