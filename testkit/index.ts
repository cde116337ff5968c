// The sandbox test kit: what the contract suites, the end-to-end tests, the benchmarks and the
// demo share. See testkit/README.md. The local network and its scenarios start HTTP servers and
// load the worker and the verifier: import them from './local-network' and './scenarios', so
// that a contract suite does not load them.
export * from './protocol';
export * from './transactions';
export * from './ledger';
export * from './script-provider';
