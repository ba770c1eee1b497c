/**
 * Bicep without a Bicep compiler: tree-sitter-bicep gives the syntax tree, and these helpers read
 * declarations and literal values from it. Syntax only: types, scopes and expressions are not evaluated.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import Parser = require('tree-sitter');
import Bicep = require('tree-sitter-bicep');

type SyntaxNode = Parser.SyntaxNode;
export type { SyntaxNode };

export const root = join(__dirname, '..', '..');
export const infraDir = join(root, 'infra');

const parser = new Parser();
parser.setLanguage(Bicep as unknown as Parser.Language);

export interface BicepFile {
  /** Path relative to the repo, with forward slashes. */
  readonly path: string;
  readonly text: string;
  readonly tree: Parser.Tree;
}

export interface SyntaxError {
  readonly line: number;
  readonly column: number;
  readonly kind: 'error' | 'missing';
  /** The node's type (for a missing node, what the parser expected) and the start of its text. */
  readonly detail: string;
}

export function parseBicep(text: string): Parser.Tree {
  return parser.parse(text);
}

/** Every ERROR and MISSING node, 1-based positions: what `rootNode.hasError` alone cannot tell you. */
export function syntaxErrors(tree: Parser.Tree): SyntaxError[] {
  const errors: SyntaxError[] = [];
  const visit = (node: SyntaxNode): void => {
    if (node.isMissing) {
      errors.push({ line: node.startPosition.row + 1, column: node.startPosition.column + 1, kind: 'missing', detail: node.type });
    } else if (node.type === 'ERROR') {
      errors.push({ line: node.startPosition.row + 1, column: node.startPosition.column + 1, kind: 'error', detail: JSON.stringify(node.text.slice(0, 60)) });
    }
    if (node.hasError || node.isMissing) for (const child of node.children) visit(child);
  };
  visit(tree.rootNode);
  return errors;
}

export function formatErrors(path: string, errors: readonly SyntaxError[]): string {
  return errors.map((e) => `${path}:${e.line}:${e.column} ${e.kind === 'missing' ? `missing ${e.detail}` : `unexpected ${e.detail}`}`).join('\n');
}

function bicepPaths(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? bicepPaths(path) : path.endsWith('.bicep') ? [path] : [];
  });
}

let cache: BicepFile[] | undefined;
/** infra/**\/*.bicep, parsed once per test file. */
export function bicepFiles(): BicepFile[] {
  cache ??= bicepPaths(infraDir)
    .sort()
    .map((path) => {
      const text = readFileSync(path, 'utf8');
      return { path: relative(root, path).split('\\').join('/'), text, tree: parseBicep(text) };
    });
  return cache;
}

export function bicepFile(path: string): BicepFile {
  const file = bicepFiles().find((f) => f.path === path);
  if (!file) throw new Error(`${path} not found under infra/`);
  return file;
}

export function query(tree: Parser.Tree, source: string): Parser.QueryMatch[] {
  return new Parser.Query(Bicep as unknown as Parser.Language, source).matches(tree.rootNode);
}

/** The text of a string literal without quotes; null for an interpolated string or a non-string. */
export function stringValue(node: SyntaxNode | null | undefined): string | null {
  if (!node || node.type !== 'string') return null;
  if (node.namedChildren.some((c) => c.type === 'interpolation')) return null;
  return node.namedChildren.map((c) => c.text).join('').replace(/\\'/g, "'").replace(/\\\\/g, '\\');
}

export interface Resource {
  readonly file: string;
  readonly symbol: string;
  readonly type: string;
  readonly apiVersion: string;
  readonly existing: boolean;
  /** The resource body (inside `if (...)` or `[for ...]` when there is one); null if not an object literal. */
  readonly body: SyntaxNode | null;
  readonly line: number;
}

/** Every resource declaration, nested ones included, via `(resource_declaration (identifier) (string))`. */
export function resources(file: BicepFile): Resource[] {
  return query(file.tree, '(resource_declaration (identifier) @symbol (string) @type) @decl').map((match) => {
    const get = (name: string) => match.captures.find((c) => c.name === name)!.node;
    const decl = get('decl');
    const [type = '', apiVersion = ''] = (stringValue(get('type')) ?? '').split('@');
    return {
      file: file.path,
      symbol: get('symbol').text,
      type,
      apiVersion,
      existing: decl.children.some((c) => c.type === 'existing' || c.text === 'existing'),
      body: declarationBody(decl),
      line: decl.startPosition.row + 1,
    };
  });
}

function declarationBody(decl: SyntaxNode): SyntaxNode | null {
  for (const child of decl.namedChildren) {
    if (child.type === 'object') return child;
    if (child.type === 'if_statement' || child.type === 'for_statement') {
      return child.namedChildren.find((c) => c.type === 'object') ?? null;
    }
  }
  return null;
}

/** The key of an object_property: an identifier, or a quoted string. */
export function propertyKey(property: SyntaxNode): string {
  const key = property.namedChild(0)!;
  return key.type === 'string' ? (stringValue(key) ?? key.text) : key.text;
}

/** Properties of an object literal, in order. */
export function properties(object: SyntaxNode): Array<{ key: string; value: SyntaxNode; node: SyntaxNode }> {
  return object.namedChildren
    .filter((c) => c.type === 'object_property')
    .map((node) => ({ key: propertyKey(node), value: node.namedChild(node.namedChildCount - 1)!, node }));
}

/** Follows a path of keys through nested object literals; null when a step is missing or not an object. */
export function at(object: SyntaxNode | null, ...path: string[]): SyntaxNode | null {
  let node = object;
  for (const key of path) {
    if (!node || node.type !== 'object') return null;
    node = properties(node).find((p) => p.key === key)?.value ?? null;
  }
  return node;
}

/** An expression the helpers do not evaluate. */
export interface Expr {
  readonly expr: string;
}

export type Literal = string | number | boolean | null | Expr | Literal[] | { [key: string]: Literal };

/** A literal Bicep value as plain data; anything computed becomes `{ expr: '<source>' }`. */
export function literal(node: SyntaxNode): Literal {
  switch (node.type) {
    case 'object':
      return Object.fromEntries(properties(node).map((p) => [p.key, literal(p.value)]));
    case 'array':
      return node.namedChildren.filter((c) => c.type !== 'comment').map(literal);
    case 'string': {
      const value = stringValue(node);
      return value ?? { expr: node.text };
    }
    case 'number':
      return Number(node.text);
    case 'boolean':
      return node.text === 'true';
    case 'null':
      return null;
    default:
      return { expr: node.text };
  }
}

export function declarations(file: BicepFile, kind: 'parameter_declaration' | 'variable_declaration' | 'output_declaration'): Map<string, SyntaxNode> {
  return new Map(file.tree.rootNode.namedChildren.filter((c) => c.type === kind).map((c) => [c.namedChild(0)!.text, c]));
}

/** A parameter's default value node, or null when it has none. */
export function parameterDefault(declaration: SyntaxNode): SyntaxNode | null {
  const children = declaration.namedChildren.filter((c) => c.type !== 'comment');
  // (parameter_declaration (identifier) (type) <default>?)
  return children.length >= 3 ? children[children.length - 1]! : null;
}
