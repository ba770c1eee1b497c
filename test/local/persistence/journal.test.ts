/** The append-only JSON-lines journal every persisted local service stands on. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Journal } from '../../../src/local/persistence/journal.js';

interface Rec {
  readonly n: number;
  readonly text?: string;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'journal-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

describe('Journal', () => {
  it('starts empty when the file does not exist, creating missing folders', () => {
    const path = join(dir, 'a', 'b', 'j.jsonl');
    const { journal, records } = Journal.open<Rec>(path);
    expect(records).toEqual([]);
    expect(existsSync(path)).toBe(true);
    journal.append({ n: 1 });
    journal.close();
    expect(Journal.read<Rec>(path)).toEqual([{ n: 1 }]);
  });

  it('reads back what was appended, in order, one JSON object per line', () => {
    const path = join(dir, 'j.jsonl');
    const { journal } = Journal.open<Rec>(path);
    journal.append({ n: 1 });
    journal.append({ n: 2, text: 'line\nbreak and "quotes" and \u2028 separators' });
    journal.append({ n: 3 });
    // Appends reach the file at once (a kill -9 keeps them), before close.
    expect(Journal.read<Rec>(path)).toEqual([{ n: 1 }, { n: 2, text: 'line\nbreak and "quotes" and \u2028 separators' }, { n: 3 }]);
    expect(lines(path)).toHaveLength(3);
    journal.close();
    const reopened = Journal.open<Rec>(path);
    expect(reopened.records.map((r) => r.n)).toEqual([1, 2, 3]);
    reopened.journal.close();
  });

  it('ignores a torn last line (the process died mid-write) and drops it on the rewrite', () => {
    const path = join(dir, 'j.jsonl');
    writeFileSync(path, '{"n":1}\n{"n":2}\n{"n":3,"te');
    expect(Journal.read<Rec>(path)).toEqual([{ n: 1 }, { n: 2 }]);
    const { journal, records } = Journal.open<Rec>(path);
    expect(records).toEqual([{ n: 1 }, { n: 2 }]);
    // The next append starts on a line of its own, not glued to the torn bytes.
    journal.append({ n: 4 });
    journal.close();
    expect(Journal.read<Rec>(path)).toEqual([{ n: 1 }, { n: 2 }, { n: 4 }]);
    expect(readFileSync(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n{"n":4}\n');
  });

  it('ignores a torn last line cut inside a multi-byte character, and blank lines', () => {
    const path = join(dir, 'j.jsonl');
    const full = Buffer.from('{"n":2,"text":"žluťoučký"}\n');
    writeFileSync(path, Buffer.concat([Buffer.from('{"n":1}\n\n'), full.subarray(0, 18)]));
    expect(Journal.read<Rec>(path)).toEqual([{ n: 1 }]);
  });

  it('refuses a file damaged before its last line', () => {
    const path = join(dir, 'j.jsonl');
    writeFileSync(path, '{"n":1}\n{"n":2\n{"n":3}\n');
    expect(() => Journal.read<Rec>(path)).toThrow(/j\.jsonl:2 is not JSON/);
    expect(() => Journal.open<Rec>(path)).toThrow(/is not JSON/);
    // Nothing was rewritten: the damaged file is left for someone to look at.
    expect(readFileSync(path, 'utf8')).toBe('{"n":1}\n{"n":2\n{"n":3}\n');
  });

  it('tolerates a damaged last line followed only by a newline', () => {
    const path = join(dir, 'j.jsonl');
    writeFileSync(path, '{"n":1}\n{"n":\n');
    expect(Journal.read<Rec>(path)).toEqual([{ n: 1 }]);
  });

  it('compacts on open: the file holds compact(records) and appends follow them', () => {
    const path = join(dir, 'j.jsonl');
    const first = Journal.open<Rec>(path);
    for (let n = 1; n <= 10; n++) first.journal.append({ n });
    first.journal.close();
    const { journal, records } = Journal.open<Rec>(path, (all) => [{ n: all.reduce((s, r) => s + r.n, 0) }]);
    // The caller gets what the file held; the file now holds the compaction.
    expect(records.map((r) => r.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(Journal.read<Rec>(path)).toEqual([{ n: 55 }]);
    journal.append({ n: 56 });
    journal.close();
    expect(Journal.read<Rec>(path)).toEqual([{ n: 55 }, { n: 56 }]);
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });

  it('rewrite replaces the whole content in one rename, also for content larger than one write chunk', () => {
    const path = join(dir, 'j.jsonl');
    writeFileSync(path, '{"n":-1}\n');
    const big = 'x'.repeat(4096);
    const records: Rec[] = Array.from({ length: 600 }, (_, n) => ({ n, text: big }));
    Journal.rewrite(path, records);
    expect(Journal.read<Rec>(path)).toEqual(records);
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });

  it('a stale temp file from a crash during rewrite does not matter', () => {
    const path = join(dir, 'j.jsonl');
    writeFileSync(path, '{"n":1}\n');
    writeFileSync(`${path}.tmp`, '{"n":99}\n{"n":');
    const { journal, records } = Journal.open<Rec>(path);
    journal.close();
    expect(records).toEqual([{ n: 1 }]);
    expect(Journal.read<Rec>(path)).toEqual([{ n: 1 }]);
  });

  it('replace() compacts while running and keeps appending after the new content', () => {
    const path = join(dir, 'j.jsonl');
    const { journal } = Journal.open<Rec>(path);
    journal.append({ n: 1 });
    journal.append({ n: 2 });
    journal.replace([{ n: 3 }]);
    journal.append({ n: 4 });
    expect(Journal.read<Rec>(path)).toEqual([{ n: 3 }, { n: 4 }]);
    journal.replace([]);
    expect(Journal.read<Rec>(path)).toEqual([]);
    journal.append({ n: 5 });
    journal.close();
    expect(Journal.read<Rec>(path)).toEqual([{ n: 5 }]);
  });

  it('refuses appends once closed, and close twice is harmless', () => {
    const path = join(dir, 'j.jsonl');
    const { journal } = Journal.open<Rec>(path);
    journal.close();
    journal.close();
    expect(() => journal.append({ n: 1 })).toThrow(/closed/);
  });

  it('round-trips any sequence of records, whatever a crash tears off the end', () => {
    // Characters that stress the format: escapes, line breaks, multi-byte, astral and lone surrogates.
    const unit = fc.constantFrom('a', 'Z', ' ', 'é', 'ж', '€', '😀', '\n', '\r', '"', '\\', '\u2028', '\u0000', '\ud800', '{', '}');
    const record = fc.record({ n: fc.integer(), text: fc.option(fc.string({ unit, maxLength: 30 }), { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), fc.nat(), (records, cut) => {
        const path = join(dir, `p-${Math.random().toString(36).slice(2)}.jsonl`);
        writeFileSync(path, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
        const read = Journal.read<Rec>(path);
        expect(read).toEqual(records.map((r) => JSON.parse(JSON.stringify(r)) as Rec));
        // Tear the file at any byte: what is read back is the records whose lines survived whole.
        const bytes = readFileSync(path);
        const kept = bytes.subarray(0, cut % (bytes.length + 1));
        writeFileSync(path, kept);
        const torn = Journal.read<Rec>(path);
        const wholeLines = kept.toString('utf8').split('\n').length - 1;
        expect(torn).toEqual(read.slice(0, torn.length));
        expect([wholeLines, wholeLines + 1]).toContain(torn.length);
        rmSync(path);
      }),
      { numRuns: 150 },
    );
  });
});
