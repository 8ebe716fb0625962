/**
 * The prebuilt page (Vite's output in dist/ui): read once, served from memory by exact path, so no request
 * can name a file outside the build. The same URL resolves from src/dashboard (tests run the sources) and
 * from dist/dashboard (the package).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

/** Nothing but this origin's own files; no inline script or style; never framed. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
  /** Vite puts a content hash in every name under assets/: such a file never changes under its name. */
  readonly immutable: boolean;
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else out.push(path);
  }
}

/** Every built file by its URL path (`/index.html`, `/assets/index-3f2a.js`); empty when the page is not built. */
export function loadAssets(dir = UI_DIR): ReadonlyMap<string, Asset> {
  const files: string[] = [];
  try {
    walk(dir, files);
  } catch {
    return new Map();
  }
  const assets = new Map<string, Asset>();
  for (const file of files) {
    const path = '/' + relative(dir, file).split(sep).join('/');
    const body = readFileSync(file);
    assets.set(path, {
      body,
      type: TYPES[extname(file)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: path.startsWith('/assets/'),
    });
  }
  return assets;
}

/** The headers of an asset response. */
export function assetHeaders(asset: Asset): Record<string, string> {
  return {
    'content-type': asset.type,
    'content-length': String(asset.body.length),
    etag: asset.etag,
    'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  };
}
