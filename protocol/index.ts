// The off-chain protocol every component speaks (worker, verifier, SDK, scripts): chain access,
// contract state readers, end-to-end encryption, evidence and its binding, the worker's and the
// verifier's HTTP APIs and the conventions all services keep. See protocol/README.md.
export * from './chain';
export * from './state';
export * from './encryption';
export * from './evidence';
export * from './worker-api';
export * from './verifier-api';
export * from './http';
export * from './cli';
