/** The local runtime as a child process, as `npm start` runs it: start, talk to it over HTTP, kill it. */
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export interface RuntimeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed, stdout and stderr. */
  output(): string;
  api(path: string, init?: RequestInit): Promise<Response>;
  /** SIGKILL: no shutdown code runs, as when a host dies. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

const ENTRY = join(__dirname, '..', '..', 'dist', 'src', 'local', 'runtime.js');

export async function startRuntimeProcess(dataDir: string, env: Record<string, string> = {}): Promise<RuntimeProcess> {
  const child = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, PORT: '0', LOCAL_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`runtime did not start:\n${output}`)), 60_000);
    const look = () => {
      const m = /TokenGate local runtime on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.once('exit', (code) => reject(new Error(`runtime exited with ${code}:\n${output}`)));
  });
  return {
    url,
    child,
    output: () => output,
    api: (path, init) => fetch(`${url}${path}`, init),
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
