import type { Config } from 'jest';

const config: Config = {
    preset: 'ts-jest',
    testEnvironment: 'node',
    testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.scratch/'],
    // Sandbox suites deploy contracts and run TVM; the default 5 s is too short on a 2-core CI.
    testTimeout: 60_000,
    // Jest's default is one worker less than the cores: one worker on CI's two cores. The suites
    // are independent (each builds its own sandbox chain, servers bind port 0), so use both.
    maxWorkers: 2,
};

export default config;
