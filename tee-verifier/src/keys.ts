// The verifier's ed25519 signing key: a 32-byte seed in hex, read from a file or an environment
// variable the operator names. Never logged, never written anywhere.
import { readFileSync } from 'fs';
import type { KeyPair } from '@ton/crypto';
import { ed25519FromSeed } from '../../wrappers';

export interface KeySource {
    file?: string;
    env?: string; // name of the environment variable
}

export function loadSigningKey(source: KeySource, environment: NodeJS.ProcessEnv = process.env): KeyPair {
    let text: string | undefined;
    let where: string;
    if (source.file) {
        where = `key file ${source.file}`;
        try {
            text = readFileSync(source.file, 'utf8');
        } catch (e) {
            throw new Error(`cannot read the ${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
    } else if (source.env) {
        where = `environment variable ${source.env}`;
        text = environment[source.env];
        if (text === undefined) throw new Error(`the ${where} is not set: put the verifier's 32-byte ed25519 seed there, in hex`);
    } else {
        throw new Error('no signing key configured: name a key file or an environment variable holding the seed');
    }
    const hex = text.trim().replace(/^0x/, '');
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`the ${where} must hold a 32-byte ed25519 seed as 64 hex characters`);
    return ed25519FromSeed(Buffer.from(hex, 'hex'));
}
