/**
 * Several deployments of one model (`AZURE_OPENAI_DEPLOYMENTS`), in priority order: typically a
 * provisioned (PTU) deployment first and standard ones as spillover. Each has its own gate entity
 * (keyed by its name) with its own quota, and its own circuit breaker. A job tries them in order and
 * goes to the first with room; the last one waits as long as it must.
 *
 * Two spellings:
 * - compact: `name:mode:tokensPerMinute[:ptuMaxUtilization]`, comma-separated,
 *   e.g. `gpt4o-ptu:provisioned:300000:0.8,gpt4o-east:standard:450000`;
 * - JSON: `[{ "name", "mode", "tokensPerMinute", "requestsPerMinute"?, "ptuMaxUtilization"? }, ...]`.
 */
import { GATE_MODES, GateMode } from './gate/config.js';

export interface DeploymentEntry {
  readonly name: string;
  readonly mode: GateMode;
  readonly tokensPerMinute: number;
  /** Absent: derived from the TPM like GATE_REQUESTS_PER_MINUTE's default. */
  readonly requestsPerMinute?: number;
  /** Provisioned only; absent: PTU_MAX_UTILIZATION. */
  readonly ptuMaxUtilization?: number;
}

/** Azure deployment names: letters, digits, `-`, `_` and `.` (no `/`, which gate keys of other providers use). */
const DEPLOYMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const JSON_FIELDS = ['name', 'mode', 'tokensPerMinute', 'requestsPerMinute', 'ptuMaxUtilization'];
const SETTING = 'AZURE_OPENAI_DEPLOYMENTS';

/** The list, or every problem found (each naming the entry and the field). Empty text: an empty list. */
export function parseDeploymentList(raw: string): { readonly entries: DeploymentEntry[]; readonly problems: string[] } {
  const text = raw.trim();
  if (text === '') return { entries: [], problems: [] };
  const problems: string[] = [];
  const entries = text.startsWith('[') ? fromJson(text, problems) : fromCompact(text, problems);
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) problems.push(`${SETTING}: deployment "${entry.name}" is listed twice`);
    seen.add(entry.name);
  }
  return { entries: problems.length > 0 ? [] : entries, problems };
}

function fromCompact(text: string, problems: string[]): DeploymentEntry[] {
  const entries: DeploymentEntry[] = [];
  text.split(',').forEach((item, index) => {
    const parts = item.trim().split(':');
    const where = `${SETTING} entry ${index + 1} ("${item.trim()}")`;
    if (parts.length < 3 || parts.length > 4) {
      problems.push(`${where} must be name:mode:tokensPerMinute[:ptuMaxUtilization]`);
      return;
    }
    const [name, mode, tpm, ptu] = parts as [string, string, string, string | undefined];
    const entry = checkEntry(
      { name, mode, tokensPerMinute: decimal(tpm), ...(ptu !== undefined ? { ptuMaxUtilization: decimal(ptu) } : {}) },
      where,
      problems,
    );
    if (entry) entries.push(entry);
  });
  return entries;
}

function fromJson(text: string, problems: string[]): DeploymentEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    problems.push(`${SETTING} is not valid JSON (a list of { name, mode, tokensPerMinute, requestsPerMinute?, ptuMaxUtilization? })`);
    return [];
  }
  if (!Array.isArray(value) || value.length === 0) {
    problems.push(`${SETTING} must be a non-empty JSON list of deployments`);
    return [];
  }
  const entries: DeploymentEntry[] = [];
  value.forEach((item: unknown, index) => {
    const where = `${SETTING}[${index}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push(`${where} must be an object { name, mode, tokensPerMinute, ... }`);
      return;
    }
    const unknown = Object.keys(item).filter((k) => !JSON_FIELDS.includes(k));
    if (unknown.length > 0) problems.push(`${where} has unknown field(s) ${unknown.join(', ')}; a deployment has ${JSON_FIELDS.join(', ')}`);
    const entry = checkEntry(item as Record<string, unknown>, where, problems);
    if (entry && unknown.length === 0) entries.push(entry);
  });
  return entries;
}

/** Plain decimals only, as the other settings: Number() would take "0x10" or "" (0). */
function decimal(text: string): number {
  return /^[+]?(\d+\.?\d*|\.\d+)$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
}

function checkEntry(o: Record<string, unknown>, where: string, problems: string[]): DeploymentEntry | null {
  const before = problems.length;
  const { name, mode, tokensPerMinute, requestsPerMinute, ptuMaxUtilization } = o;
  const positiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
  if (typeof name !== 'string' || !DEPLOYMENT_NAME.test(name)) problems.push(`${where}: name must be a deployment name (letters, digits, -, _ and ., at most 64)`);
  if (typeof mode !== 'string' || !(GATE_MODES as readonly string[]).includes(mode)) problems.push(`${where}: mode must be one of ${GATE_MODES.join(', ')}`);
  if (!positiveInteger(tokensPerMinute)) problems.push(`${where}: tokensPerMinute must be a whole number of tokens above 0`);
  if (requestsPerMinute !== undefined && !positiveInteger(requestsPerMinute)) problems.push(`${where}: requestsPerMinute must be a whole number above 0`);
  if (ptuMaxUtilization !== undefined) {
    if (typeof ptuMaxUtilization !== 'number' || !(ptuMaxUtilization > 0 && ptuMaxUtilization <= 1)) problems.push(`${where}: ptuMaxUtilization must be a fraction in (0, 1]`);
    else if (mode === 'standard') problems.push(`${where}: ptuMaxUtilization applies to provisioned deployments only`);
  }
  if (problems.length !== before) return null;
  return {
    name: name as string,
    mode: mode as GateMode,
    tokensPerMinute: tokensPerMinute as number,
    ...(requestsPerMinute !== undefined ? { requestsPerMinute: requestsPerMinute as number } : {}),
    ...(ptuMaxUtilization !== undefined ? { ptuMaxUtilization: ptuMaxUtilization as number } : {}),
  };
}
