// Everything an integrator imports: `import { Root, Provider, Session, buildAttestationProof } from './wrappers'`.
export * from './Root';
export { Provider, providerForOwner, PROVIDER_STATUS_NAMES } from './Provider';
export { ProviderEntry, providerEntryFor } from './ProviderEntry';
export { Session, sessionFor, clientKeyHashOf, claimWindowEnd, servingEnd, SESSION_STATUS_NAMES } from './Session';
export * from './proof';
export * from './ed25519';
export * from './receipt';
export * from './listing';
export * from './params';
export * from './errors';
export * from './values';
export * from './transactions';
export * from './code';
