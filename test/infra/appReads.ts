/**
 * What the app reads, derived from the code so that a new setting shows up without editing the tests:
 * `read.<anything>('NAME'` in src/lib, `process.env.NAME` / `process.env['NAME']`, `%NAME%` in bindings
 * and host.json, and every binding `connection: 'X'` as the identity-based `X__fullyQualifiedNamespace`.
 * src/local is the local runtime: its knobs are not app settings.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './bicep';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function appSources(): Array<{ path: string; text: string }> {
  return sourceFiles(join(root, 'src'))
    .filter((f) => !f.includes(join('src', 'local')))
    .map((path) => ({ path, text: readFileSync(path, 'utf8') }));
}

/** Binding connection names (`connection: 'EventHubConnection'`). */
export function bindingConnections(): Set<string> {
  const names = new Set<string>();
  for (const { text } of appSources()) for (const m of text.matchAll(/connection:\s*'([A-Za-z0-9_]+)'/g)) names.add(m[1]!);
  return names;
}

/** Every setting the code, the bindings and host.json read. */
export function settingsReadByApp(): Set<string> {
  const names = new Set<string>();
  for (const { text } of appSources()) {
    for (const m of text.matchAll(/\bread\.\w+(?:<[^>]*>)?\(\s*'([A-Za-z0-9_]+)'/g)) names.add(m[1]!);
    for (const m of text.matchAll(/process\.env(?:\.([A-Za-z0-9_]+)|\[\s*'([A-Za-z0-9_]+)'\s*\])/g)) names.add((m[1] ?? m[2])!);
    for (const m of text.matchAll(/%([A-Za-z0-9_]+)%/g)) names.add(m[1]!);
  }
  for (const connection of bindingConnections()) names.add(`${connection}__fullyQualifiedNamespace`);
  for (const m of readFileSync(join(root, 'host.json'), 'utf8').matchAll(/%([A-Za-z0-9_]+)%/g)) names.add(m[1]!);
  return names;
}

/** Literal values of a binding option across src/functions, e.g. `queueName: 'feedback-in'`. */
export function bindingValues(option: 'queueName' | 'eventHubName' | 'consumerGroup'): Set<string> {
  const values = new Set<string>();
  for (const { text } of appSources()) for (const m of text.matchAll(new RegExp(`${option}:\\s*'([^']+)'`, 'g'))) values.add(m[1]!);
  return values;
}
