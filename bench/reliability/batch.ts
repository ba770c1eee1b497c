/**
 * A batch's life as the reliability runs see it from outside: submit over HTTP, wait until every job
 * is final, export the results page by page, and check the export and the store's own journal for
 * what must never happen (a job missing, exported twice, stuck, or given its final result twice).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChildService } from './processes.js';

export interface ChatRequest {
  readonly custom_id: string;
  readonly messages: readonly { readonly role: string; readonly content: string }[];
  readonly max_tokens: number;
}

/**
 * `n` requests with distinct prompts (the simulator tells jobs apart by their request), small budgets.
 * Every `filterEvery`-th one carries `marker`, for a content-filter 400 the job must fail with.
 */
export function requestsFor(n: number, tag: string, options: { marker?: string; filterEvery?: number } = {}): ChatRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const filtered = options.marker !== undefined && options.filterEvery !== undefined && i % options.filterEvery === options.filterEvery - 1;
    return {
      custom_id: `${tag}-${i}`,
      messages: [{ role: 'user', content: `Summarize item ${i} of ${tag}${filtered ? ` ${options.marker}` : ''}` }],
      max_tokens: 20 + (i % 4) * 10,
    };
  });
}

export async function submit(rt: ChildService, requests: readonly ChatRequest[]): Promise<{ batchId: string; requestIds: string[] }> {
  const body = await rt.json<{ batch_id: string; request_ids: string[] }>('/api/producer', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(requests),
  });
  return { batchId: body.batch_id, requestIds: body.request_ids };
}

export interface BatchStatus {
  readonly done: boolean;
  readonly counts: Readonly<Record<string, number>>;
}

export const batchStatus = (rt: ChildService, batchId: string) => rt.json<BatchStatus>(`/api/batches/${batchId}`);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until the batch is done; throws with the last counts when `timeoutMs` passes first. */
export async function waitForBatch(rt: ChildService, batchId: string, timeoutMs: number, pollMs = 500): Promise<BatchStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: BatchStatus | undefined;
  for (;;) {
    last = await batchStatus(rt, batchId);
    if (last.done) return last;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} not done after ${timeoutMs} ms: ${JSON.stringify(last.counts)}`);
    await sleep(pollMs);
  }
}

export interface OutputLine {
  readonly id: string;
  readonly custom_id: string | null;
  readonly response: { readonly status_code: number; readonly body: unknown } | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** Every exported line of the batch (JSONL, pages of 5,000 through `x-continuation`). */
export async function exportResults(rt: ChildService, batchId: string): Promise<OutputLine[]> {
  const lines: OutputLine[] = [];
  let continuation: string | null = null;
  do {
    const query: string = `format=jsonl&limit=5000${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`;
    const response = await rt.api(`/api/batches/${batchId}/results?${query}`);
    if (!response.ok) throw new Error(`export of ${batchId}: ${response.status} ${await response.text()}`);
    const text = await response.text();
    for (const line of text.split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as OutputLine);
    continuation = response.headers.get('x-continuation');
  } while (continuation);
  return lines;
}

export interface ExportCheck {
  readonly lines: number;
  readonly completed: number;
  readonly failed: number;
  /** Failed lines by error code (the upstream reason). */
  readonly failedBy: Readonly<Record<string, number>>;
  /** Submitted custom ids with no line. */
  readonly missing: number;
  /** Lines beyond one per custom id. */
  readonly duplicateLines: number;
  /** Failed lines without an error code and message. */
  readonly failedWithoutReason: number;
  /** Custom ids expected to fail (content filter) that did not fail with a 400 `content_filter`. */
  readonly filterMismatches: number;
}

export function checkExport(lines: readonly OutputLine[], requests: readonly ChatRequest[], marker?: string): ExportCheck {
  const seen = new Map<string, OutputLine>();
  let duplicateLines = 0;
  let completed = 0;
  let failed = 0;
  let failedWithoutReason = 0;
  const failedBy: Record<string, number> = {};
  for (const line of lines) {
    const key = line.custom_id ?? line.id;
    if (seen.has(key)) duplicateLines += 1;
    seen.set(key, line);
    if (line.error === null && line.response?.status_code === 200) completed += 1;
    else {
      failed += 1;
      const code = line.error?.code ?? '';
      if (code === '' || !line.error?.message) failedWithoutReason += 1;
      failedBy[code] = (failedBy[code] ?? 0) + 1;
    }
  }
  let filterMismatches = 0;
  for (const request of requests) {
    const line = seen.get(request.custom_id);
    const marked = marker !== undefined && request.messages.some((m) => m.content.includes(marker));
    const filteredOut = line?.error?.code === 'content_filter' && line.response?.status_code === 400;
    if (line && marked !== filteredOut) filterMismatches += 1;
  }
  const missing = requests.filter((r) => !seen.has(r.custom_id)).length;
  return { lines: lines.length, completed, failed, failedBy, missing, duplicateLines, failedWithoutReason, filterMismatches };
}

/**
 * Final results the store wrote per job, read from the local Cosmos journal of a data folder: every
 * distinct (job, etag) whose document is completed or failed. A job given its final result twice shows
 * up with two. The journal is compacted at each start, so after a crash read it before restarting and
 * merge with `into` (a compacted copy keeps its etag, so it is not counted again).
 */
export function finalWrites(dataDir: string, into: Map<string, Set<string>> = new Map()): Map<string, Set<string>> {
  const path = join(dataDir, 'cosmos', 'tokengate.jsonl');
  if (!existsSync(path)) return into;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    let record: { c?: string; doc?: { id?: string; status?: string; _etag?: string } };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      continue; // a torn last line: that write never took effect
    }
    const doc = record.doc;
    if (record.c !== 'jobs' || !doc?.id || (doc.status !== 'completed' && doc.status !== 'failed')) continue;
    const etags = into.get(doc.id) ?? new Set<string>();
    etags.add(doc._etag ?? line);
    into.set(doc.id, etags);
  }
  return into;
}

/** Jobs whose final result was written more than once. */
export const writtenTwice = (writes: ReadonlyMap<string, ReadonlySet<string>>) => [...writes.values()].filter((etags) => etags.size > 1).length;
