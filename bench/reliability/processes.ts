/**
 * The local runtime and a standalone simulator as child processes, as `npm start` runs them, for the
 * reliability runs (the bench from dist/, the tests from the sources): start, talk HTTP, kill -9,
 * read the peak resident memory the kernel recorded.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest folder above with a package.json (works from bench/ and dist/bench/). */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

export interface ChildService {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed, stdout and stderr (the last 2 MB). */
  output(): string;
  api(path: string, init?: RequestInit): Promise<Response>;
  json<T>(path: string, init?: RequestInit): Promise<T>;
  /** The process's peak resident set (VmHWM) in bytes, while it is alive; null where /proc has none. */
  peakRss(): number | null;
  /** SIGKILL: no shutdown code runs, as when a host dies. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

const OUTPUT_LIMIT = 2 << 20;

async function startChild(entry: string, env: Record<string, string>, banner: RegExp, what: string): Promise<ChildService> {
  const child = spawn(process.execPath, [entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // A long run logs a line per model call: keep the tail only, so the parent's memory stays bounded.
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT / 2);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${output}`)), 60_000);
    const look = () => {
      const m = banner.exec(output);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', look);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${output}`));
    });
  });
  const api = (path: string, init?: RequestInit) => fetch(`${url}${path}`, init);
  return {
    url,
    child,
    output: () => output,
    api,
    async json<T>(path: string, init?: RequestInit) {
      // A GET may meet a keep-alive socket the server closed a moment earlier (ECONNRESET): ask once more.
      const response = await api(path, init).catch((error: unknown) => {
        if ((init?.method ?? 'GET') !== 'GET') throw error;
        return api(path, init);
      });
      if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as T;
    },
    peakRss() {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : null;
      } catch {
        return null;
      }
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      // For a post-mortem of a failed run: the tail of what the process printed.
      if (process.env.RELIABILITY_LOG_DIR) writeFileSync(join(process.env.RELIABILITY_LOG_DIR, `${what.replace(/\W+/g, '-')}-${child.pid}.log`), output);
    },
  };
}

/** `node dist/src/local/runtime.js` on a free port with its data folder. */
export function startRuntime(dataDir: string, env: Record<string, string>): Promise<ChildService> {
  const entry = join(repoRoot(), 'dist', 'src', 'local', 'runtime.js');
  return startChild(entry, { PORT: '0', LOCAL_DATA_DIR: dataDir, ...env }, /TokenGate local runtime on (http:\/\/\S+)/, 'the runtime');
}

/** `node dist/src/local/simulator/main.js`: a simulator that outlives the runtimes calling it. */
export function startSimulatorProcess(env: Record<string, string>): Promise<ChildService> {
  const entry = join(repoRoot(), 'dist', 'src', 'local', 'simulator', 'main.js');
  return startChild(entry, { SIMULATOR_PORT: '0', ...env }, /Azure OpenAI simulator on (http:\/\/\S+)/, 'the simulator');
}
