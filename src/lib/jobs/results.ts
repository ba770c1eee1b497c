/**
 * A batch's jobs in the three export formats:
 * - Azure OpenAI Batch API output (JSONL): only FINAL jobs (completed / failed). The format has no
 *   status field, so a line must not be written before the job's outcome is known:
 *   `toBatchOutputLine` throws JobNotFinalError for a non-final job, and `toBatchOutput` skips them.
 * - JSON (`toJsonResults`): every job, with its status; result and error are null until final.
 * - CSV (`toCsv`): every job, one row each, RFC 4180 (CRLF line ends, quoted where needed) with
 *   spreadsheet formula injection neutralized.
 * The per-job functions (`toBatchOutputLine`, `toJsonResult`, `toCsvRow` + `CSV_HEADER_LINE`) let a
 * caller stream page by page instead of holding the whole batch.
 *
 * The caller's own data travels with every job: `supportive_variable` (per item) and `metadata` (per
 * submission) are in the JSON results and the CSV columns always, and in a Batch API line when the job
 * has them (a line of a job without them is exactly the Batch API's).
 */
import { FINAL_STATUSES, Job, JobStatus, JsonValue, Metadata, Usage } from './job.js';

// ---------------------------------------------------------------------------------------------
// Batch API output (JSONL)

export interface BatchOutputResponse {
  readonly status_code: number;
  readonly request_id: string;
  readonly body: unknown;
}

export interface BatchOutputError {
  readonly code: string;
  readonly message: string;
}

/** One line of Azure OpenAI Batch API output, plus the caller's own data when the job has any. */
export interface BatchOutputLine {
  readonly id: string;
  readonly custom_id: string | null;
  readonly response: BatchOutputResponse | null;
  readonly error: BatchOutputError | null;
  readonly supportive_variable?: JsonValue;
  readonly metadata?: Metadata;
}

/** The job's own data for a Batch API line: only the fields it has. */
function callerData(job: Job): Pick<BatchOutputLine, 'supportive_variable' | 'metadata'> {
  return {
    ...(job.supportiveVariable !== undefined ? { supportive_variable: job.supportiveVariable } : {}),
    ...(job.metadata !== null && job.metadata !== undefined ? { metadata: job.metadata } : {}),
  };
}

export class JobNotFinalError extends Error {
  override readonly name = 'JobNotFinalError';
  constructor(
    readonly jobId: string,
    readonly status: JobStatus,
  ) {
    super(`job ${jobId} is ${status}: only completed or failed jobs have a Batch API output line`);
  }
}

export function isFinal(job: Job): boolean {
  return FINAL_STATUSES.includes(job.status);
}

/**
 * Error code when the job recorded none: `http_<status>` when Azure answered, `no_response` when no
 * answer came (connection, timeout), `job_failed` when the failure left no error record at all.
 */
function errorOf(job: Job): BatchOutputError {
  const error = job.error;
  if (error === null) return { code: 'job_failed', message: 'the job failed without an error record' };
  return { code: error.code ?? (error.status === null ? 'no_response' : `http_${error.status}`), message: error.message };
}

/**
 * The Batch API output record of a final job.
 * - completed: `response` { status_code 200, request_id = the job id, body = the chat.completion }, `error` null;
 * - failed: `error` { code, message }, and `response` { upstream status, request_id = the job id,
 *   body = { error: { code, message } } } when Azure answered with an HTTP status, else null.
 * Throws JobNotFinalError for a job that is not completed or failed.
 */
export function toBatchOutputRecord(job: Job): BatchOutputLine {
  if (job.status === 'completed') {
    return { id: job.id, custom_id: job.customId, response: { status_code: 200, request_id: job.id, body: job.result }, error: null, ...callerData(job) };
  }
  if (job.status === 'failed') {
    const error = errorOf(job);
    const status = job.error?.status ?? null;
    return {
      id: job.id,
      custom_id: job.customId,
      response: status === null ? null : { status_code: status, request_id: job.id, body: { error } },
      error,
      ...callerData(job),
    };
  }
  throw new JobNotFinalError(job.id, job.status);
}

/** One line (no trailing newline) of Batch API output. Throws JobNotFinalError for a non-final job. */
export function toBatchOutputLine(job: Job): string {
  // JSON.stringify never emits a raw line break, so the record is always exactly one line.
  return JSON.stringify(toBatchOutputRecord(job));
}

/** A JSONL document of the final jobs among `jobs` (each line ends with "\n"); non-final jobs are skipped. */
export function toBatchOutput(jobs: Iterable<Job>): string {
  let out = '';
  for (const job of jobs) if (isFinal(job)) out += `${toBatchOutputLine(job)}\n`;
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON

export interface JsonResultError {
  /** Upstream HTTP status, or null when no response came. */
  readonly status: number | null;
  readonly code: string | null;
  readonly message: string;
}

export interface JsonResult {
  readonly id: string;
  readonly custom_id: string | null;
  readonly status: JobStatus;
  /** The chat.completion Azure returned (completed jobs), else null. */
  readonly result: Readonly<Record<string, unknown>> | null;
  readonly error: JsonResultError | null;
  readonly usage: Usage | null;
  readonly metadata: Metadata | null;
  /** The item's `supportive_variable`, or null when it gave none. */
  readonly supportive_variable: JsonValue;
}

export function toJsonResult(job: Job): JsonResult {
  return {
    id: job.id,
    custom_id: job.customId,
    status: job.status,
    result: job.status === 'completed' ? job.result : null,
    error: job.status === 'failed' ? (job.error === null ? { status: null, ...errorOf(job) } : { ...job.error }) : null,
    usage: job.usage,
    metadata: job.metadata,
    supportive_variable: job.supportiveVariable ?? null,
  };
}

export function toJsonResults(jobs: Iterable<Job>): JsonResult[] {
  return Array.from(jobs, toJsonResult);
}

// ---------------------------------------------------------------------------------------------
// CSV

export const CSV_COLUMNS = [
  'request_id',
  'custom_id',
  'status',
  'content',
  'prompt_tokens',
  'completion_tokens',
  'error_code',
  'error_message',
  'supportive_variable',
  'metadata',
] as const;
export const CSV_HEADER_LINE = `${CSV_COLUMNS.join(',')}\r\n`;

/**
 * Characters that make a spreadsheet read a cell as a formula: =, +, -, @ (and tab / carriage return,
 * which OWASP lists too). Such a text field gets a leading single quote.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV field: text neutralized against formula injection, then quoted per RFC 4180 when needed. */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/**
 * The answer's text: `choices[0].message.content` of the result (the text parts joined when it is
 * an array of parts); '' when there is none (not completed, or a tool-call-only answer).
 */
export function resultContent(job: Job): string {
  const choices = job.result?.['choices'];
  if (!Array.isArray(choices)) return '';
  const first: unknown = choices[0];
  if (typeof first !== 'object' || first === null) return '';
  const message: unknown = (first as Record<string, unknown>)['message'];
  if (typeof message !== 'object' || message === null) return '';
  const content: unknown = (message as Record<string, unknown>)['content'];
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => {
      if (typeof part !== 'object' || part === null) return '';
      const text: unknown = (part as Record<string, unknown>)['text'];
      return typeof text === 'string' ? text : '';
    })
    .join('');
}

/** One CSV row, ending with CRLF. */
export function toCsvRow(job: Job): string {
  const error = job.status === 'failed' ? errorOf(job) : null;
  const fields: (string | number | null)[] = [
    job.id,
    job.customId,
    job.status,
    job.status === 'completed' ? resultContent(job) : null,
    job.usage?.prompt_tokens ?? null,
    job.usage?.completion_tokens ?? null,
    error?.code ?? null,
    error?.message ?? null,
    // A string as it is; any other value as JSON, so a spreadsheet shows what was sent.
    job.supportiveVariable === undefined || job.supportiveVariable === null ? null : typeof job.supportiveVariable === 'string' ? job.supportiveVariable : JSON.stringify(job.supportiveVariable),
    job.metadata === null || job.metadata === undefined ? null : JSON.stringify(job.metadata),
  ];
  return `${fields.map(csvField).join(',')}\r\n`;
}

/** The header and one row per job (every status). No BOM: prepend "\uFEFF" if Excel must detect UTF-8. */
export function toCsv(jobs: Iterable<Job>): string {
  let out = CSV_HEADER_LINE;
  for (const job of jobs) out += toCsvRow(job);
  return out;
}
