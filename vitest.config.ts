import { defineConfig } from 'vitest/config';

// Unit suites run in parallel; suites that start real processes run one file at a time so a
// loaded 2-core CI machine does not starve them.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        // The in-process metadata suites again, their catalogs in a real etcd (test/etcd-setup.ts):
        // everything that passes on LevelDB must pass on etcd.
        test: {
          name: 'etcd',
          include: ['test/unit/metadata/**/*.test.ts', 'test/unit/auth/**/*.test.ts'],
          exclude: ['test/unit/metadata/store/**'],
          globalSetup: ['test/etcd-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
