import type { Config } from 'jest';

const config: Config = {
    preset: 'ts-jest',
    testEnvironment: 'node',
    testPathIgnorePatterns: ['/node_modules/', '/dist/'],
    // Sandbox suites deploy contracts and run TVM; the default 5 s is too short on a 2-core CI.
    testTimeout: 60_000,
};

export default config;
