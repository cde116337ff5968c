// The client SDK: find providers, open sessions, talk to attested workers end-to-end encrypted,
// check receipts. See sdk/README.md.
export * from './chain';
export * from './client';
export * from './discovery';
export * from './encryption';
export * from './keyfile';
export * from './receipts';
export * from './state';
export * from './wire';
