/**
 * vitest global setup: compiles the app to dist/ once, because the end-to-end tests run the local
 * runtime as a separate Node process (plain CommonJS, as `npm start` does).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
}
