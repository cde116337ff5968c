// The client SDK (in progress): end-to-end encryption to an attested enclave, and receipt checks.
export * from './encryption';
export * from './receipts';
