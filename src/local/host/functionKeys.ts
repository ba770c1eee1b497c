/**
 * Function keys as the host applies them: routes with authLevel `function` or `admin` need the key in
 * `x-functions-key` or `?code=`; `anonymous` routes (health) never do. The local runtime only asks for
 * keys when it listens beyond loopback (as `func start` never does on a developer's machine); the key
 * comes from LOCAL_FUNCTION_KEY or is generated once and kept in the data folder.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The key to require, or null when listening on loopback only. */
export function functionKeyFor(host: string, dataDir: string, configured: string | undefined): string | null {
  if (isLoopback(host)) return null;
  if (configured) return configured;
  const path = join(dataDir, 'function-key.json');
  if (existsSync(path)) return (JSON.parse(readFileSync(path, 'utf8')) as { key: string }).key;
  const key = randomBytes(32).toString('base64url');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path, JSON.stringify({ key }), { mode: 0o600 });
  return key;
}

export function authorized(authLevel: unknown, key: string | null, headers: Record<string, string | string[] | undefined>, url: URL): boolean {
  if (key === null || authLevel === 'anonymous') return true;
  const given = String(headers['x-functions-key'] ?? url.searchParams.get('code') ?? '');
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}
