// Everything an integrator imports: `import { Root, Provider, buildAttestationProof } from 'cocoon/wrappers'`.
export * from './Root';
export { Provider, providerForOwner, PROVIDER_STATUS_NAMES } from './Provider';
export * from './proof';
export * from './listing';
export * from './errors';
