/**
 * A recording pass-through in front of the simulated deployment. The simulator counts calls but not
 * whose they are; the recorder sees every request body, so each call is attributed to its job (the
 * `[bench …]` tag): when it reached the deployment, its status, when it was answered and what it used.
 * Every contender, TokenGate included, talks to the deployment through one of these, so the extra
 * loopback hop (well under a millisecond) is the same for all.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { TAG_PATTERN } from './workload.js';

export interface RecordedCall {
  /** Job tag, or null for calls without one (health probes). */
  readonly tag: string | null;
  /** When the request (whole body) reached the recorder, about when the deployment admits it. */
  readonly at: number;
  /** When the answer came back; null when the connection failed. */
  readonly answeredAt: number | null;
  readonly status: number | null;
  /** usage.total_tokens of a 200. */
  readonly usedTokens: number | null;
}

export interface Recorder {
  readonly endpoint: string;
  calls(): readonly RecordedCall[];
  close(): Promise<void>;
}

function tagOf(body: string): string | null {
  return TAG_PATTERN.exec(body)?.[1] ?? null;
}

function usedTokensOf(status: number, body: string): number | null {
  if (status !== 200) return null;
  try {
    const usage = (JSON.parse(body) as { usage?: { total_tokens?: unknown } }).usage;
    return typeof usage?.total_tokens === 'number' ? usage.total_tokens : null;
  } catch {
    return null;
  }
}

export async function startRecorder(target: string, clock: () => number = Date.now): Promise<Recorder> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const calls: RecordedCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const at = clock();
      const tag = tagOf(body.toString('utf8'));
      const headers = { ...req.headers, host: upstream.host };
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            const text = Buffer.concat(parts);
            const status = answer.statusCode ?? 0;
            if (req.url?.includes('/chat/completions')) {
              calls.push({ tag, at, answeredAt: clock(), status, usedTokens: usedTokensOf(status, text.toString('utf8')) });
            }
            res.writeHead(status, answer.headers);
            res.end(text);
          });
        },
      );
      forward.on('error', () => {
        calls.push({ tag, at, answeredAt: null, status: null, usedTokens: null });
        res.destroy();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => [...calls],
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
