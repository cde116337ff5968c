// The enclave's keys, made in memory when the worker starts and never written anywhere: an
// ed25519 key that signs usage receipts and an X25519 key clients encrypt requests to. The
// verifiers attest both (bound into the quote's report data), so a restart means a new
// attestation, and sessions opened under the old keys can no longer be served (only claimed).
import { randomBytes } from 'crypto';
import { KeyPair, keyPairFromSeed } from '@ton/crypto';
import { SessionKey, generateEncryptionKeyPair } from '../../protocol/encryption';

export interface EnclaveKeys {
    signing: KeyPair;
    encryption: SessionKey;
}

export async function generateEnclaveKeys(): Promise<EnclaveKeys> {
    return { signing: keyPairFromSeed(randomBytes(32)), encryption: await generateEncryptionKeyPair() };
}
