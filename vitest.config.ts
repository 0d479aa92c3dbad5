import { defineConfig } from 'vitest/config';

// Three projects: `host` runs anywhere; `package` tests what ships (the
// prebuilt binaries and the packed tarballs installed by
// scripts/pack-consumer.sh) on the host; `vm` needs a real device-mapper and
// runs inside the test VM (scripts/vm.sh), never on a host without one.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'host',
          include: ['test/host/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'package',
          include: ['test/package/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'vm',
          include: ['test/vm/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          // One kernel, shared global state (device names, loop slots): run files one by one.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
