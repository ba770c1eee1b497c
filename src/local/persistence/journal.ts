/**
 * An append-only JSON-lines file: how the local runtime's emulated services keep their state under
 * LOCAL_DATA_DIR. A record is written with one synchronous write before the change it records is
 * acted on, so a `kill -9` (which keeps what reached the kernel) loses nothing that was acknowledged.
 * A torn last line (the process died mid-write) is dropped on reading: its change never took effect.
 * On start the owner reads the records, rebuilds its state and rewrites the file compacted.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export class Journal<R> {
  private fd: number | null;

  private constructor(private readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a');
  }

  /** Reads what the file holds, rewrites it as `compact(records)` and opens it for appending. */
  static open<R>(path: string, compact: (records: R[]) => readonly R[] = (records) => records): { journal: Journal<R>; records: R[] } {
    const records = Journal.read<R>(path);
    Journal.rewrite(path, compact(records));
    return { journal: new Journal<R>(path), records };
  }

  static read<R>(path: string): R[] {
    if (!existsSync(path)) return [];
    const lines = readFileSync(path, 'utf8').split('\n');
    const records: R[] = [];
    lines.forEach((line, i) => {
      if (line === '') return;
      try {
        records.push(JSON.parse(line) as R);
      } catch (error) {
        // Only the last line can be torn by a crash; anything else means the file was damaged.
        if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l !== '')) throw new Error(`${path}:${i + 1} is not JSON: ${(error as Error).message}`);
      }
    });
    return records;
  }

  /** Replaces the file's content in one rename, so a crash leaves either the old file or the new one. */
  static rewrite<R>(path: string, records: readonly R[]): void {
    mkdirSync(dirname(path), { recursive: true });
    const temp = `${path}.tmp`;
    const fd = openSync(temp, 'w');
    try {
      let chunk = '';
      for (const record of records) {
        chunk += `${JSON.stringify(record)}\n`;
        if (chunk.length > 1 << 20) {
          writeSync(fd, chunk);
          chunk = '';
        }
      }
      writeSync(fd, chunk);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  }

  append(record: R): void {
    if (this.fd === null) throw new Error(`journal ${this.path} is closed`);
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
  }

  /** Rewrites the file as `records` (a compaction while running) and goes on appending after them. */
  replace(records: readonly R[]): void {
    this.close();
    Journal.rewrite(this.path, records);
    this.fd = openSync(this.path, 'a');
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
