// Helpers every operator script shares (Blueprint lists only scripts/*.ts as scripts, so this
// folder is not offered as one): `import * as cli from './lib'`.
export * from './cli';
export * from './send';
export * from './governance';
export * from './network';
