import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // The end-to-end tests start the compiled runtime as a child process.
    globalSetup: ['test/support/buildDist.ts'],
  },
});
