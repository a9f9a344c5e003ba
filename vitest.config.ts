import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Limits that only catch hangs: tests wait on events (process exit, a reply, a file), never on
    // time, and the Python-spawning ones (torchrun, the bridge, the demo) run several times slower
    // on a busy 2-core machine than on a quiet one. A tight limit here made `npm test` fail under load.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // Two cores: Python-spawning suites contend for CPU, so keep the pool small.
    maxWorkers: 2,
  },
});
