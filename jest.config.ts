import type { Config } from 'jest';

const config: Config = {
    // ts-jest only transpiles (tsconfig.json's isolatedModules): `npm test` type-checks everything
    // once before (pretest: npm run lint runs tsc), and checking again per suite took about a third
    // of the suite's time on a 2-core CI.
    preset: 'ts-jest',
    testEnvironment: 'node',
    testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.scratch/'],
    // Sandbox suites deploy contracts and run TVM; the default 5 s is too short on a 2-core CI.
    testTimeout: 60_000,
    // Cells hashed with node:crypto's SHA-256 rather than jssha, slow under jest (see the file).
    setupFiles: ['<rootDir>/tests/setup/native-sha256.ts'],
    // Jest's default is one worker less than the cores: one worker on CI's two cores. The suites
    // are independent (each builds its own sandbox chain, servers bind port 0), so use both.
    maxWorkers: 2,
};

export default config;
