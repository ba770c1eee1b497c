/**
 * App settings as `func start` gives them: the Values of local.settings.json become environment
 * variables (what is already set wins). A `%NAME%` binding expression whose setting is nowhere set
 * falls back to local.settings.sample.json, so a fresh clone runs without writing any settings file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BindingMetadata } from './functionsCore.js';

/** The project folder (this file runs from src/ under vitest and from dist/src/ when built). */
function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const ROOT = projectRoot();

function valuesOf(file: string): Record<string, string> {
  const path = join(ROOT, file);
  if (!existsSync(path)) return {};
  return (JSON.parse(readFileSync(path, 'utf8')) as { Values?: Record<string, string> }).Values ?? {};
}

/** Loads local.settings.json into the environment; returns the names it set. */
export function loadLocalSettings(env: NodeJS.ProcessEnv = process.env): string[] {
  const set: string[] = [];
  for (const [name, value] of Object.entries(valuesOf('local.settings.json'))) {
    if (env[name] !== undefined || value === '') continue;
    env[name] = value;
    set.push(name);
  }
  return set;
}

let sample: Record<string, string> | undefined;

/** Resolves `%NAME%` in a binding property, as the host does. */
export function bindingValue(binding: BindingMetadata, property: string, env: NodeJS.ProcessEnv = process.env): string {
  const raw = String(binding[property] ?? '');
  return raw.replace(/%([A-Za-z0-9_]+)%/g, (_, name: string) => {
    const value = env[name] || (sample ??= valuesOf('local.settings.sample.json'))[name];
    if (!value) throw new Error(`binding ${binding.name}: ${property} refers to app setting ${name}, which is not set`);
    return value;
  });
}
