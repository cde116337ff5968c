// Enclave keys that survive a restart. Without them, a restarted worker has new keys: every open
// session's terms name the old signing key, so clients must close, wait out the grace period and
// open again. With them, the worker seals its keys (and the evidence of its attestation) to a file
// under a key only the same code can obtain, and after a restart it unseals them: the Provider's
// attestation still names them, so sessions go on with no message on-chain.
//
// The sealing key comes from a SealingKeySource, bound to this provider, network and model hash:
// - production (`--seal-with-verifiers`): the verifiers release it. On TDX 1.x there is no hardware
//   sealing (TDG.MR.KEY.GET comes with TDX 2.0; real Cocoon runs an SGX sealing enclave on the
//   host). Each of the worker's verifiers, started with a sealing secret, answers a fresh TDX quote
//   with a share derived from its secret and the quote's measurement, sealed to a key the quote
//   binds and signed by a key in Root's verifier set (tee-verifier/src/sealing.ts); the sealing key
//   derives from every verifier's share. The same code gets the same key after a restart; other
//   code, the host, or a verifier alone cannot. Unsealing needs every one of those verifiers.
// - development (`--seal-key-file`, `--dev` only): a secret file the operator names; whoever reads
//   it can read the keys, so it proves nothing about the code.
import { hkdfSync, randomBytes } from 'crypto';
import { openAuth, generateX25519KeyPair } from '../../protocol/hpke';
import { SEALING_SHARE_DOMAIN, SealingBinding, sealingReportData, sealingShareSigned } from '../../protocol/evidence';
import { SealingRequest, encodeSealingRequest, sealingShareSchema } from '../../protocol/verifier-api';
import { postToVerifier } from './verifier-client';
import { ChainAccess, onChain } from '../../protocol/chain';
import { Root, bufferToBigInt, ed25519FromSecretKey, ed25519Verify } from '../../wrappers';
import { openBlob, sealBlob } from '../../protocol/aead';
import { readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync, existsSync } from 'fs';
import { dirname } from 'path';
import { Address } from '@ton/core';
import { EnclaveKeys } from './keys';
import type { AttestationRequest } from '../../protocol/evidence';
import { attestRequestSchema, encodeAttestationRequest } from '../../protocol/verifier-api';

export interface SealingKeySource {
    describe: string;
    // 32 bytes, the same every time for the same context (and code), never for another.
    key(context: Buffer): Promise<Buffer>;
}

// Development only: the sealing key derives from a secret in a file (at least 32 bytes).
export function fileSealingSource(path: string): SealingKeySource {
    return {
        describe: `the development sealing secret in ${path}`,
        async key(context) {
            const secret = readFileSync(path);
            if (secret.length < 32) throw new Error(`${path} must hold at least 32 bytes of secret (for example: head -c 32 /dev/urandom)`);
            return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), context, 32));
        },
    };
}

/** Root's verifier set as a sealing key source checks it: who may release shares, and how many must. */
export interface RootVerifierSet {
    has(publicKey: Buffer): boolean;
    threshold: number; // the signatures an attestation needs: at least as many shares are needed
}

/** The verifier set of the Root at `root`, read through `chain`. */
export async function readRootVerifierSet(chain: ChainAccess, root: Address): Promise<RootVerifierSet> {
    const set = await onChain(chain, "read Root's verifier set", () => chain.open(Root.fromAddress(root)).getVerifierSet());
    return { has: (k) => set.keys.has(bufferToBigInt(k)), threshold: Number(set.threshold) };
}

/**
 * Where a production image pins the verifiers it takes sealing shares from: in the measured root
 * filesystem, so that the host (which chooses the worker's flags and chain endpoints, and could
 * name verifiers of its own) cannot change it. JSON: {"threshold": N, "keys": ["hex ed25519 key", ...]}.
 */
export const PINNED_VERIFIERS_FILE = '/etc/cocoon/sealing-verifiers.json';

/** The verifier set pinned in the image (PINNED_VERIFIERS_FILE); throws naming what is wrong with the file. */
export function readPinnedVerifierSet(path = PINNED_VERIFIERS_FILE): RootVerifierSet {
    let pinned: { threshold?: unknown; keys?: unknown };
    try {
        pinned = JSON.parse(readFileSync(path, 'utf8')) as typeof pinned;
    } catch (e) {
        throw new Error(`the pinned sealing verifiers (${path}) cannot be read: ${(e as Error).message}`);
    }
    const keys = Array.isArray(pinned.keys) ? pinned.keys : [];
    if (keys.length === 0 || !keys.every((k) => typeof k === 'string' && /^[0-9a-fA-F]{64}$/.test(k))) {
        throw new Error(`${path}: "keys" must list the verifiers' ed25519 public keys, 64 hex digits each`);
    }
    const threshold = pinned.threshold;
    if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1 || threshold > keys.length) {
        throw new Error(`${path}: "threshold" must be a whole number from 1 to the number of keys`);
    }
    const set = new Set((keys as string[]).map((k) => k.toLowerCase()));
    return { has: (k) => set.has(k.toString('hex')), threshold };
}

export interface VerifierSealingOptions {
    verifiers: string[]; // the worker's --verifier URLs: every one must answer, now and after a restart
    provider: Address;
    globalId: number;
    modelHash: Buffer;
    evidence: (binding: SealingBinding) => Promise<SealingRequest['evidence']>; // the TD's quote and GPUs' evidence (evidence.ts sealingEvidence)
    // whom to take shares from, and how many: the set pinned in the image (production), or Root's
    // as the chain endpoint shows it (development: the host chooses the endpoint)
    verifierSet: () => Promise<RootVerifierSet>;
    timeoutMs?: number;
}

const SEALING_KEY_DOMAIN = Buffer.from('cocoon-sealing-key-v1');

// Production: the sealing key from the shares of every verifier (tee-verifier/src/sealing.ts).
export function verifierSealingSource(o: VerifierSealingOptions): SealingKeySource {
    if (o.verifiers.length === 0) throw new Error('sealing with verifiers needs at least one --verifier');
    const shareOf = async (url: string, set: RootVerifierSet) => {
        const reply = generateX25519KeyPair();
        const binding = { replyKey: reply.publicKey, provider: o.provider, globalId: o.globalId, modelHash: o.modelHash };
        const reportData = sealingReportData(binding);
        const request = { ...binding, evidence: await o.evidence(binding) };
        const answer = await postToVerifier(
            url,
            '/v1/sealing-share',
            encodeSealingRequest(request),
            sealingShareSchema,
            o.timeoutMs ?? 30_000,
        );
        const signer = answer.publicKey.toString('hex');
        if (!ed25519Verify(sealingShareSigned(reportData, answer), answer.signature, answer.publicKey)) {
            throw new Error(`the sealing share from ${url} does not carry a valid signature of ${signer}`);
        }
        if (!set.has(answer.publicKey)) {
            throw new Error(`the sealing share from ${url} is signed by ${signer}, which is not in the verifier set`);
        }
        let share: Buffer; // (32 bytes: the schema takes a 48-byte ciphertext, share and tag)
        try {
            share = openAuth(reply, answer.senderKey, answer.enc, SEALING_SHARE_DOMAIN, reportData, answer.ciphertext).plaintext;
        } catch {
            throw new Error(`the sealing share from ${url} does not open with this request's reply key`);
        }
        return { signer, share };
    };
    return {
        describe: `the sealing shares of the verifiers at ${o.verifiers.join(', ')}`,
        async key(context) {
            const set = await o.verifierSet();
            // As many distinct verifiers as an attestation needs: the host routes the worker's
            // requests, and shares of fewer (or of one verifier reached twice) would let fewer
            // verifiers than Root trusts for an attestation read the keys.
            if (o.verifiers.length < set.threshold) {
                throw new Error(
                    `sealing needs the shares of at least ${set.threshold} verifiers (Root's threshold); ${o.verifiers.length} --verifier given`,
                );
            }
            const shares = new Map<string, Buffer>();
            for (const [i, { signer, share }] of (await Promise.all(o.verifiers.map((url) => shareOf(url, set)))).entries()) {
                if (shares.has(signer)) {
                    throw new Error(
                        `${o.verifiers[i]} answered with the share of ${signer}, which another --verifier gave already: each must be another verifier`,
                    );
                }
                shares.set(signer, share);
            }
            // (in the order of the verifiers' keys: the same key whichever URL answers first)
            const ikm = Buffer.concat([...shares.keys()].sort().flatMap((k) => [Buffer.from(k, 'hex'), shares.get(k)!]));
            return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), Buffer.concat([SEALING_KEY_DOMAIN, context]), 32));
        },
    };
}

// What the sealed keys are bound to: a key sealed for another provider, network or model does not
// open (and would be refused by the Provider's attestation anyway).
export function sealingContext(provider: Address, globalId: number, modelHash: Buffer): Buffer {
    const id = Buffer.alloc(4);
    id.writeInt32BE(globalId);
    return Buffer.concat([Buffer.from('cocoon-sealed-keys-v1'), id, Buffer.from([provider.workChain & 0xff]), provider.hash, modelHash]);
}

export interface SealedState {
    keys: EnclaveKeys;
    evidence?: AttestationRequest; // of the attestation the Provider holds for these keys
}

export class SealedKeys {
    constructor(
        readonly path: string,
        private readonly source: SealingKeySource,
        private readonly context: Buffer,
    ) {}

    // The sealed state, or null when there is no file yet. Throws if the file does not open: a
    // file sealed for other code, provider or model, or altered.
    async load(): Promise<SealedState | null> {
        if (!existsSync(this.path)) return null;
        const blob = readFileSync(this.path);
        const key = await this.source.key(this.context);
        let plain: Buffer;
        try {
            plain = openBlob(key, blob, this.context);
        } catch {
            throw new Error(
                `the sealed keys in ${this.path} do not open with ${this.source.describe}: sealed for another provider, network, model or secret, or altered (move the file away to start with new keys)`,
            );
        }
        const s = JSON.parse(plain.toString('utf8')) as {
            signing: string;
            encryption: { publicKey: string; privateKey: string };
            evidence?: unknown;
        };
        return {
            keys: {
                signing: ed25519FromSecretKey(Buffer.from(s.signing, 'hex')),
                encryption: {
                    publicKey: Buffer.from(s.encryption.publicKey, 'hex'),
                    privateKey: Buffer.from(s.encryption.privateKey, 'hex'),
                },
            },
            evidence: s.evidence === undefined ? undefined : attestRequestSchema.parse(s.evidence),
        };
    }

    // Writes the state atomically: a new temporary file (created exclusively, with a random name,
    // mode 0600 from the start), fsynced, renamed over the old one, and the directory fsynced.
    async save(state: SealedState): Promise<void> {
        const plain = Buffer.from(
            JSON.stringify({
                signing: state.keys.signing.secretKey.toString('hex'),
                encryption: {
                    publicKey: state.keys.encryption.publicKey.toString('hex'),
                    privateKey: state.keys.encryption.privateKey.toString('hex'),
                },
                evidence: state.evidence && encodeAttestationRequest(state.evidence),
            }),
        );
        const key = await this.source.key(this.context);
        const blob = sealBlob(key, plain, this.context);
        const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
        const fd = openSync(tmp, 'wx', 0o600);
        try {
            writeFileSync(fd, blob);
            fsyncSync(fd);
        } finally {
            closeSync(fd);
        }
        renameSync(tmp, this.path);
        const dir = openSync(dirname(this.path), 'r');
        fsyncSync(dir);
        closeSync(dir);
    }
}
