// The client SDK: find providers, open sessions, talk to attested workers end-to-end encrypted,
// check receipts. See sdk/README.md.
export * from '../protocol/chain';
export * from './client';
export * from './discovery';
export * from '../protocol/encryption';
export * from './keyfile';
export * from './receipts';
export * from '../protocol/state';
export * from '../protocol/worker-api';
