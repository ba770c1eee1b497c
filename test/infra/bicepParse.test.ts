/**
 * No Bicep compiler here (not on npm or apt), so the syntax is checked with tree-sitter-bicep: every
 * infra/**\/*.bicep must parse without ERROR or MISSING nodes, and every module path must exist.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bicepFiles, formatErrors, parseBicep, query, root, stringValue, syntaxErrors } from './bicep';

describe('infra/**/*.bicep syntax', () => {
  const files = bicepFiles();

  it('finds main.bicep and its modules', () => {
    expect(files.map((f) => f.path)).toContain('infra/main.bicep');
    expect(files.length).toBeGreaterThan(5);
  });

  it.each(files.map((f) => [f.path, f] as const))('%s parses without errors', (_path, file) => {
    const errors = syntaxErrors(file.tree);
    expect(formatErrors(file.path, errors), 'syntax errors').toBe('');
    expect(file.tree.rootNode.hasError).toBe(false);
  });

  it('resolves every local module path', () => {
    for (const file of files) {
      for (const match of query(file.tree, '(module_declaration (identifier) (string) @path)')) {
        const path = stringValue(match.captures[0]!.node)!;
        if (path.startsWith('br:') || path.startsWith('ts:')) continue;
        expect(existsSync(join(root, dirname(file.path), path)), `${file.path} → ${path}`).toBe(true);
      }
    }
  });

  it('reports where a broken file breaks (the check is not vacuous)', () => {
    const broken = "param a string\nresource s 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'x'\n  properties: {\n}\n";
    const errors = syntaxErrors(parseBicep(broken));
    expect(errors.length).toBeGreaterThan(0);
    expect(formatErrors('broken.bicep', errors)).toMatch(/^broken\.bicep:\d+:\d+ (missing|unexpected) /);
    expect(syntaxErrors(parseBicep('var = 3')).length).toBeGreaterThan(0);
  });
});
