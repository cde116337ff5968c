// Jest setup (jest.config.ts setupFiles): @ton/core hashes every cell with @ton/crypto's
// sha256_sync, which is jssha, SHA-256 in JavaScript. Under jest every module runs inside a vm
// context, where its many global lookups are slow: jssha took about six times as long as in plain
// node, the largest single part of the time a test network took to start. The tests hash with
// node:crypto instead: the same digest (tests/setup.spec.ts checks the standard vectors), much
// faster. Production code is untouched: outside jest, jssha runs at full speed.
import { createHash } from 'crypto';

// (the module @ton/crypto's index re-exports sha256_sync from, through a getter: assigning here
// is what @ton/core's calls see)
const primitives: { sha256_sync: (source: Buffer | string) => Buffer } = require('@ton/crypto/dist/primitives/sha256');
primitives.sha256_sync = (source) => createHash('sha256').update(source).digest();
