// The published package must carry what its README points to: a reader of the README on the registry or in
// node_modules follows links to docs/*.md.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

describe('the package carries the docs the README links to', () => {
  it('every relative README link names a file that exists and that package.json `files` ships', () => {
    const files = (JSON.parse(read('package.json')) as { files: string[] }).files;
    const links = [...read('README.md').matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)/g)].map((m) => m[1] as string);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) {
      const path = link.replace(/^\.\//, '');
      expect(existsSync(`${root}${path}`), `${link} exists`).toBe(true);
      expect(
        files.some((entry) => path === entry || path.startsWith(`${entry}/`)),
        `${link} is shipped by package.json files (${files.join(', ')})`,
      ).toBe(true);
    }
  });
});
