/** Function keys: asked for only beyond loopback, kept in the data folder, checked as the host does. */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authorized, functionKeyFor, isLoopback } from '../../../src/local/host/functionKeys.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'function-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('isLoopback', () => {
  it.each(['localhost', '127.0.0.1', '127.1.2.3', '::1'])('%s is loopback', (host) => expect(isLoopback(host)).toBe(true));
  it.each(['0.0.0.0', '::', '10.0.0.5', '192.168.1.20', 'example.com', '128.0.0.1', '1270.0.0.1', ''])('%s is not', (host) => expect(isLoopback(host)).toBe(false));
});

describe('functionKeyFor', () => {
  it('asks for no key on loopback, and writes nothing', () => {
    expect(functionKeyFor('127.0.0.1', join(dir, 'data'), undefined)).toBeNull();
    expect(functionKeyFor('localhost', join(dir, 'data'), 'configured')).toBeNull();
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('uses the configured key beyond loopback, without writing it down', () => {
    expect(functionKeyFor('0.0.0.0', dir, 'my-key')).toBe('my-key');
    expect(existsSync(join(dir, 'function-key.json'))).toBe(false);
  });

  it('generates a strong key once, keeps it private in the data folder and reuses it', () => {
    const data = join(dir, 'nested', 'data');
    const key = functionKeyFor('0.0.0.0', data, undefined);
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const path = join(data, 'function-key.json');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ key });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // Another start (an empty LOCAL_FUNCTION_KEY counts as unset) gets the same key.
    expect(functionKeyFor('192.168.1.20', data, '')).toBe(key);
    // Another data folder gets another key.
    expect(functionKeyFor('0.0.0.0', join(dir, 'other'), undefined)).not.toBe(key);
  });

  it('prefers a configured key to the stored one', () => {
    writeFileSync(join(dir, 'function-key.json'), JSON.stringify({ key: 'stored' }));
    expect(functionKeyFor('0.0.0.0', dir, 'configured')).toBe('configured');
    expect(functionKeyFor('0.0.0.0', dir, undefined)).toBe('stored');
  });
});

describe('authorized', () => {
  const url = (query = '') => new URL(`http://host/api/producer${query}`);

  it('lets everything through when no key is required', () => {
    expect(authorized('function', null, {}, url())).toBe(true);
    expect(authorized('admin', null, {}, url())).toBe(true);
  });

  it('never asks an anonymous route for a key', () => {
    expect(authorized('anonymous', 'secret', {}, url())).toBe(true);
  });

  it.each(['function', 'admin', undefined, 'unexpected'])('authLevel %s needs the key', (level) => {
    expect(authorized(level, 'secret', {}, url())).toBe(false);
    expect(authorized(level, 'secret', { 'x-functions-key': 'secret' }, url())).toBe(true);
    expect(authorized(level, 'secret', {}, url('?code=secret'))).toBe(true);
  });

  it('refuses a wrong key, a key of another length, a prefix and an empty key', () => {
    for (const given of ['secreT', 'secret2', 'secre', '', ' secret']) {
      expect(authorized('function', 'secret', { 'x-functions-key': given }, url())).toBe(false);
      expect(authorized('function', 'secret', {}, url(`?code=${encodeURIComponent(given)}`))).toBe(false);
    }
  });

  it('reads a URL-encoded code and a key with multi-byte characters', () => {
    expect(authorized('function', 'a+b/c=', {}, url(`?code=${encodeURIComponent('a+b/c=')}`))).toBe(true);
    expect(authorized('function', 'ключ', { 'x-functions-key': 'ключ' }, url())).toBe(true);
    // Same number of characters, different number of bytes: refused, not thrown.
    expect(authorized('function', 'ключ', { 'x-functions-key': 'abcd' }, url())).toBe(false);
  });

  it('the header wins over the query string', () => {
    expect(authorized('function', 'secret', { 'x-functions-key': 'wrong' }, url('?code=secret'))).toBe(false);
    expect(authorized('function', 'secret', { 'x-functions-key': 'secret' }, url('?code=wrong'))).toBe(true);
  });

  it('refuses a header sent twice', () => {
    expect(authorized('function', 'secret', { 'x-functions-key': ['secret', 'secret'] }, url())).toBe(false);
  });
});
