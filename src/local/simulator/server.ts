/**
 * A local Azure OpenAI simulator (node:http on 127.0.0.1) for the local runtime and benchmarks when no
 * real endpoint is configured. It speaks the data-plane paths the openai `AzureOpenAI` client uses
 * (`POST /openai/deployments/{deployment}/chat/completions?api-version=...`, `GET /openai/models`),
 * admits calls by the rules in `rules.ts`, answers after a modelled latency, and injects faults from a
 * seeded PRNG so runs are reproducible.
 *
 * Fault order per chat call: an outage or a 429 storm switched on through `setFaults` answers first,
 * without a draw; otherwise four draws are always taken, so the sequence does not depend on outcomes:
 * 500 (no charge) → "high demand" 429 `no_capacity` (no charge) → content filter 400 (marked prompts,
 * no charge) → admission (quota 429, or charged) → slow (extra latency) → drop (the socket is
 * destroyed when the answer is due; the charge stays, as it would for a call lost in flight).
 *
 * Answers are counted per job, so a run can tell how many model calls were made twice (a call that
 * finished but whose result the caller lost, e.g. in a crash): a job is the part of the
 * `x-ms-client-request-id` header before its last `:` when the caller sends one (`<job>:<attempt>`),
 * otherwise the request body, so give every job a distinct prompt when counting that way.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import type { ChargeableRequest } from '../../lib/model/charge.js';
import { completionContent } from './content.js';
import { Outage, parseFaultUpdate, SimulatorFaultState } from './faults.js';
import { seededRandom } from './prng.js';
import {
  Admitted,
  createSimulatorRules,
  errorBody,
  RATE_LIMIT_CODE,
  RejectionKind,
  SimulatorHeaders,
  SimulatorMode,
} from './rules.js';

export type { Outage, SimulatorFaults, SimulatorFaultState } from './faults.js';

export interface SimulatorOptions {
  readonly mode?: SimulatorMode;
  readonly tokensPerMinute: number;
  /** Default: 6 per 1,000 TPM (most chat models). */
  readonly requestsPerMinute?: number;
  /** The (scaled) minute; default 60 000. */
  readonly windowMs?: number;
  /** The model the deployment runs (tokenizer, and the `model` field of answers); default 'gpt-4o'. */
  readonly model?: string;
  /** Charged (and used as the budget) for a request without `max_tokens`; default 4096. */
  readonly defaultMaxTokens?: number;
  /** An answer comes after baseMs + perTokenMs × generated tokens; default 0 and 0. */
  readonly latency?: { readonly baseMs?: number; readonly perTokenMs?: number };
  /** Generated tokens per choice = clamp(ceil(ratio × budget), 1, budget); default 0.2. */
  readonly completionRatio?: number;
  readonly faults?: SimulatorFaultState;
  /** PRNG seed for faults; default 1. */
  readonly seed?: number;
  /** The clock the admission rules read; default Date.now. */
  readonly clock?: () => number;
  /** Port to listen on; default 0 (any free port). */
  readonly port?: number;
}

export interface SimulatorCall {
  /** Clock time of admission. */
  readonly at: number;
  /** Tokens charged at admission (the estimate). */
  readonly tokens: number;
}

export interface SimulatorStats {
  /** Chat completion requests received (bad ones included). */
  readonly requests: number;
  readonly admitted: number;
  /** Admitted calls answered 200 (not those whose caller had gone, e.g. timed out, by then). */
  readonly completed: number;
  /** Admitted calls whose caller had closed the connection before the answer was due. */
  readonly abandoned: number;
  readonly throttled: Readonly<Record<RejectionKind, number>>;
  readonly serverErrors: number;
  readonly drops: number;
  readonly slow: number;
  readonly badRequests: number;
  /** Marked prompts refused with the content-filter 400. */
  readonly contentFiltered: number;
  /** Calls (chat and model list) refused because the endpoint was down. */
  readonly outage: number;
  /** Quota 429s sent by a storm (also in `throttled.rate_limit`). */
  readonly storm: number;
  readonly modelsRequests: number;
  readonly tokensAdmitted: number;
  /** Prompt + completion tokens of the calls answered 200. */
  readonly tokensUsed: number;
  /** Admitted calls in admission order. */
  readonly calls: readonly SimulatorCall[];
  /** Provisioned: the live utilization as a fraction; standard: null. */
  readonly utilization: number | null;
  /** 200 answers per job (see the header comment for what a job is). */
  readonly jobs: JobAnswers;
}

export interface JobAnswers {
  /** Jobs answered 200 at least once. */
  readonly answered: number;
  /** 200 answers beyond the first per job: model calls made twice. */
  readonly duplicates: number;
  /** Some of the jobs answered more than once (at most 20), with their answer counts. */
  readonly duplicated: readonly { readonly job: string; readonly answers: number }[];
}

/** The stats without the per-call list, small enough to poll during a long run. */
export type SimulatorSummary = Omit<SimulatorStats, 'calls'>;

export interface Simulator {
  /** `http://127.0.0.1:<port>`, the endpoint to give `createModelClient`. */
  readonly endpoint: string;
  stats(): SimulatorStats;
  summary(): SimulatorSummary;
  /** The faults in force now. */
  faults(): SimulatorFaultState;
  /** Replaces the fields given (see `parseFaultUpdate`); returns the faults now in force. */
  setFaults(update: SimulatorFaultState): SimulatorFaultState;
  close(): Promise<void>;
}

const CHAT_PATH = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/;
/** The simulator's own routes (not Azure's), for a standalone simulator: stats and fault control. */
const STATS_PATH = '/simulator/stats';
const FAULTS_PATH = '/simulator/faults';
const CLIENT_REQUEST_ID = 'x-ms-client-request-id';

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const clock = options.clock ?? Date.now;
  const model = options.model ?? 'gpt-4o';
  const rules = createSimulatorRules({
    mode: options.mode ?? 'standard',
    tokensPerMinute: options.tokensPerMinute,
    requestsPerMinute: options.requestsPerMinute ?? (options.tokensPerMinute / 1000) * 6,
    model,
    clock,
    ...(options.windowMs !== undefined ? { windowMs: options.windowMs } : {}),
    ...(options.defaultMaxTokens !== undefined ? { defaultMaxTokens: options.defaultMaxTokens } : {}),
  });
  const random = seededRandom(options.seed ?? 1);
  let faults: SimulatorFaultState = { ...options.faults };
  const answersByJob = new Map<string, number>();
  let duplicates = 0;
  const baseMs = options.latency?.baseMs ?? 0;
  const perTokenMs = options.latency?.perTokenMs ?? 0;
  const ratio = options.completionRatio ?? 0.2;

  const counts = {
    requests: 0,
    admitted: 0,
    completed: 0,
    throttled: { rate_limit: 0, overloaded: 0 } as Record<RejectionKind, number>,
    serverErrors: 0,
    drops: 0,
    slow: 0,
    badRequests: 0,
    contentFiltered: 0,
    outage: 0,
    storm: 0,
    abandoned: 0,
    modelsRequests: 0,
    tokensAdmitted: 0,
    tokensUsed: 0,
  };
  const calls: SimulatorCall[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let sequence = 0;

  function later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      action();
    }, Math.max(0, ms));
    timers.add(timer);
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: SimulatorHeaders = {}): void {
    if (res.destroyed) return;
    sequence += 1;
    res.writeHead(status, { 'content-type': 'application/json', 'apim-request-id': `sim-${sequence}`, ...headers });
    res.end(JSON.stringify(body));
  }

  /** True when the endpoint is down: the call has been failed the outage's way. */
  function refuseWhenDown(res: http.ServerResponse): boolean {
    const down: Outage | null | undefined = faults.down;
    if (!down) return false;
    counts.outage += 1;
    if (down === 'reset') res.socket?.destroy();
    else send(res, 503, errorBody('ServiceUnavailable', 'The service is temporarily unable to process your request. Please try again later.'));
    return true;
  }

  function handleChat(body: string, jobHeader: string | undefined, res: http.ServerResponse): void {
    counts.requests += 1;
    if (refuseWhenDown(res)) return;
    const request = parseRequest(body);
    if (typeof request === 'string') {
      counts.badRequests += 1;
      send(res, 400, errorBody('invalid_request', request));
      return;
    }
    if (faults.storm) {
      const rejection = rules.overloaded(faults.storm.retryAfterMs);
      counts.throttled.rate_limit += 1;
      counts.storm += 1;
      // A quota 429 as the deployment sends it, only without charging: the storm is the service's doing.
      send(res, 429, errorBody(RATE_LIMIT_CODE, 'Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded token rate limit of your current pricing tier.'), rejection.headers);
      return;
    }
    const job = jobHeader !== undefined && jobHeader.includes(':') ? jobHeader.slice(0, jobHeader.lastIndexOf(':')) : createHash('sha1').update(body).digest('hex');
    const [serverError, overloaded, slow, drop] = [random(), random(), random(), random()];
    if (serverError < (faults.serverErrorRate ?? 0)) {
      counts.serverErrors += 1;
      send(res, 500, errorBody('InternalServerError', 'The server had an error while processing your request.'));
      return;
    }
    if (overloaded < (faults.overloadedRate ?? 0)) {
      const rejection = rules.overloaded(faults.overloadedRetryAfterMs ?? 1000);
      counts.throttled.overloaded += 1;
      send(res, rejection.status, rejection.body, rejection.headers);
      return;
    }
    if (faults.contentFilterMarker !== undefined && mentions(request, faults.contentFilterMarker)) {
      counts.contentFiltered += 1;
      send(res, 400, {
        error: {
          code: 'content_filter',
          message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
          param: 'prompt',
          status: 400,
          innererror: { code: 'ResponsibleAIPolicyViolation' },
        },
      });
      return;
    }
    let admission;
    try {
      admission = rules.admit(request);
    } catch (error) {
      counts.badRequests += 1;
      send(res, 400, errorBody('invalid_request', error instanceof Error ? error.message : 'the request could not be charged'));
      return;
    }
    if (!admission.admitted) {
      counts.throttled[admission.kind] += 1;
      send(res, admission.status, admission.body, admission.headers);
      return;
    }
    counts.admitted += 1;
    counts.tokensAdmitted += admission.estimate.estimate;
    calls.push({ at: admission.at, tokens: admission.estimate.estimate });

    const budget = admission.estimate.maxTokens;
    const generated = Math.min(budget, Math.max(1, Math.ceil(ratio * budget)));
    const isSlow = slow < (faults.slowRate ?? 0);
    if (isSlow) counts.slow += 1;
    const delay = baseMs + perTokenMs * generated + (isSlow ? (faults.slowMs ?? 0) : 0);
    const isDrop = drop < (faults.dropRate ?? 0);
    later(delay, () => {
      if (isDrop) {
        counts.drops += 1;
        res.socket?.destroy();
        return;
      }
      if (res.destroyed) {
        // The caller gave up (its timeout) before the answer: nothing was delivered.
        counts.abandoned += 1;
        return;
      }
      send(res, 200, ...answer(request, admission, generated));
      const answers = (answersByJob.get(job) ?? 0) + 1;
      answersByJob.set(job, answers);
      if (answers > 1) duplicates += 1;
    });
  }

  function jobAnswers(): JobAnswers {
    const duplicated: { job: string; answers: number }[] = [];
    if (duplicates > 0) {
      for (const [job, answers] of answersByJob) {
        if (answers > 1) duplicated.push({ job, answers });
        if (duplicated.length >= 20) break;
      }
    }
    return { answered: answersByJob.size, duplicates, duplicated };
  }

  function summary(): SimulatorSummary {
    return { ...counts, throttled: { ...counts.throttled }, utilization: rules.utilization(), jobs: jobAnswers() };
  }

  function setFaults(update: SimulatorFaultState): SimulatorFaultState {
    faults = { ...faults, ...update };
    return faults;
  }

  function control(req: http.IncomingMessage, path: string, body: string, res: http.ServerResponse): boolean {
    if (path === STATS_PATH && req.method === 'GET') {
      send(res, 200, summary());
      return true;
    }
    if (path === FAULTS_PATH && (req.method === 'GET' || req.method === 'PUT')) {
      if (req.method === 'GET') {
        send(res, 200, faults);
        return true;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const update = parseFaultUpdate(parsed);
      if (typeof update === 'string') send(res, 400, errorBody('invalid_request', update));
      else send(res, 200, setFaults(update));
      return true;
    }
    return false;
  }

  function answer(request: ParsedRequest, admitted: Admitted, generated: number): [unknown, SimulatorHeaders] {
    const answers = Math.max(1, request.n ?? 1);
    const completionTokens = generated * answers;
    const promptTokens = admitted.estimate.promptTokens;
    const headers = rules.complete(admitted, promptTokens + completionTokens);
    counts.completed += 1;
    counts.tokensUsed += promptTokens + completionTokens;
    const content = completionContent(request.response_format, generated);
    const completion = {
      id: `chatcmpl-sim-${counts.completed}`,
      object: 'chat.completion',
      created: Math.floor(clock() / 1000),
      model,
      choices: Array.from({ length: answers }, (_, index) => ({
        index,
        finish_reason: generated >= admitted.estimate.maxTokens ? 'length' : 'stop',
        message: { role: 'assistant', content },
      })),
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
    return [completion, headers];
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const body = Buffer.concat(chunks).toString('utf8');
      if (control(req, path, body, res)) return;
      if (req.method === 'GET' && path === '/openai/models') {
        counts.modelsRequests += 1;
        if (refuseWhenDown(res)) return;
        send(res, 200, { object: 'list', data: [{ id: model, object: 'model' }] });
        return;
      }
      if (req.method === 'POST' && CHAT_PATH.test(path)) {
        const header = req.headers[CLIENT_REQUEST_ID];
        handleChat(body, typeof header === 'string' ? header : undefined, res);
        return;
      }
      send(res, 404, errorBody('NotFound', 'Resource not found'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });

  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats: () => ({ ...summary(), calls: [...calls] }),
    summary,
    faults: () => faults,
    setFaults,
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

interface ParsedRequest extends ChargeableRequest {
  readonly response_format?: unknown;
}

/** The request body, or why it is not a valid chat completion request. */
function parseRequest(text: string): ParsedRequest | string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'the request body is not valid JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the request body must be a JSON object';
  const request = body as Record<string, unknown>;
  const messages = request['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return "'messages' is required and must be a non-empty array";
  for (const message of messages) {
    if (typeof message !== 'object' || message === null || typeof (message as Record<string, unknown>)['role'] !== 'string') {
      return "every message needs a string 'role'";
    }
  }
  for (const field of ['max_tokens', 'max_completion_tokens', 'n', 'best_of']) {
    const value = request[field];
    if (value !== undefined && value !== null && !(Number.isInteger(value) && (value as number) >= 1)) {
      return `'${field}' must be a positive integer`;
    }
  }
  return request as unknown as ParsedRequest;
}

/** Whether any message's text (string content, or the text parts of an array) contains `marker`. */
function mentions(request: ParsedRequest, marker: string): boolean {
  return request.messages.some((message) => {
    const content: unknown = (message as { content?: unknown }).content;
    if (typeof content === 'string') return content.includes(marker);
    return Array.isArray(content) && content.some((part) => typeof part === 'object' && part !== null && String((part as { text?: unknown }).text ?? '').includes(marker));
  });
}
