/**
 * The jobs every contender gets: chat completions with mixed prompt sizes and `max_tokens`, generated
 * from a seed so each contender sees exactly the same requests. Each request carries a tag in its
 * system message (`[bench j17]`) so the recorder in front of the deployment knows whose call it sees.
 */
import { seededRandom } from '../src/local/simulator/prng.js';
import { Scenario } from './scenarios.js';

export interface BenchRequest {
  readonly messages: { readonly role: 'system' | 'user'; readonly content: string }[];
  readonly max_tokens: number;
}

export interface BenchJob {
  /** `j<n>` for batch jobs, `i<n>` for interactive ones. */
  readonly tag: string;
  readonly interactive: boolean;
  /** Batch jobs: which producer submits it. */
  readonly producer: number;
  /** Milliseconds after the batch submission at which the job arrives (0 for batch jobs). */
  readonly arriveAtMs: number;
  readonly request: BenchRequest;
}

const WORDS = ['customers', 'mentioned', 'delivery', 'delays', 'billing', 'errors', 'support', 'dashboard', 'login', 'pricing', 'this', 'week'];
const MAX_TOKENS = [64, 128, 256, 512, 1024];

export const TAG_PATTERN = /\[bench ([ji]\d+)\]/;

function prompt(words: number, random: () => number): string {
  return Array.from({ length: words }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
}

function request(tag: string, promptWords: number, maxTokens: number, random: () => number): BenchRequest {
  return {
    messages: [
      { role: 'system', content: `[bench ${tag}] Summarize the report in two sentences.` },
      { role: 'user', content: prompt(promptWords, random) },
    ],
    max_tokens: maxTokens,
  };
}

/** Prompt length: mostly short, some medium, a few long (words ≈ tokens for this vocabulary). */
function promptWords(random: () => number): number {
  const r = random();
  if (r < 0.6) return 30 + Math.floor(random() * 170);
  if (r < 0.9) return 200 + Math.floor(random() * 600);
  return 800 + Math.floor(random() * 1200);
}

export function workloadFor(scenario: Scenario): BenchJob[] {
  const random = seededRandom(scenario.seed);
  const jobs: BenchJob[] = [];
  for (let n = 0; n < scenario.jobs; n++) {
    const tag = `j${n}`;
    const maxTokens = MAX_TOKENS[Math.floor(random() * MAX_TOKENS.length)]!;
    jobs.push({ tag, interactive: false, producer: n % scenario.producers, arriveAtMs: 0, request: request(tag, promptWords(random), maxTokens, random) });
  }
  const interactive = scenario.interactive;
  for (let n = 0; interactive !== null && n < interactive.count; n++) {
    const tag = `i${n}`;
    // A person waiting: a short question with a short answer budget.
    const maxTokens = 100 + Math.floor(random() * 200);
    jobs.push({
      tag,
      interactive: true,
      producer: 0,
      arriveAtMs: interactive.firstAtMs + n * interactive.everyMs,
      request: request(tag, 20 + Math.floor(random() * 80), maxTokens, random),
    });
  }
  return jobs;
}
