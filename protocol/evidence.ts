// What a worker proves and how, defined once for the worker (which collects evidence) and the
// verifier (which checks it); documented in tee-verifier/README.md. The evidence a worker sends,
// the measurement hash Root allowlists, and the report_data layout that binds the enclave keys,
// the provider and a verifier nonce into the quote (and the same binding into the GPU's nonce).
import { Address } from '@ton/core';
import { sha256 } from '@noble/hashes/sha256';
import { sha512 } from '@noble/hashes/sha512';

const MEASUREMENT_DOMAIN = Buffer.from('cocoon-measurement-v2');
const REPORT_DATA_DOMAIN = Buffer.from('cocoon-report-data-v2');
const GPU_NONCE_DOMAIN = Buffer.from('cocoon-gpu-nonce-v2');
export const NO_GPU_EVIDENCE = Buffer.alloc(32);

// Size limits of evidence, as the verifier's API enforces them.
export const MAX_QUOTE_BYTES = 20_000; // a TDX quote with its certification data is ~5 KB
export const MAX_GPU_REPORT_BYTES = 16 * 1024; // SPDM GET_MEASUREMENTS request + signed response
export const MAX_GPUS = 8;

// One GPU's evidence as NVIDIA's tooling collects it (tee-verifier/src/nvidia.ts): the SPDM
// request and signed response, and the GPU's attestation key chain (PEM, leaf first).
export interface GpuEvidence {
    report: Buffer;
    certChain: string;
}

// A TDX quote (or, for development verifiers only, the report_data a simulated TEE would have
// put in one), with the machine's GPUs' evidence.
export type Evidence = { kind: 'tdx'; quote: Buffer; gpu?: GpuEvidence[] } | { kind: 'simulated'; reportData: Buffer; gpu?: GpuEvidence[] };

// What a worker asks a verifier to attest: these enclave keys, for this provider, with this nonce,
// serving this model.
export interface AttestationRequest {
    provider: Address;
    signingKey: Buffer; // enclave ed25519 public key
    encryptionKey: Buffer; // enclave X25519 public key
    nonce: bigint;
    modelHash: Buffer; // 32 bytes: the model the worker serves (worker model-hash)
    evidence: Evidence;
}

export interface TdxMeasurements {
    mrTd: Buffer; // 48 bytes
    rtMr0: Buffer; // 48 bytes each
    rtMr1: Buffer;
    rtMr2: Buffer;
    rtMr3: Buffer;
}

// measurement = SHA-256("cocoon-measurement-v2" || MRTD || RTMR0 || RTMR1 || RTMR2 || RTMR3 ||
//                       gpuEvidenceDigest || modelHash), registers in that fixed order, 48 bytes
// each, a 32-byte digest of the verified NVIDIA GPU evidence (nvidia.ts gpuEvidenceDigest; 32
// zero bytes when the verifier's policy lets a worker attest without GPU evidence) and the 32-byte
// hash of the model the worker serves. An allowlisted measurement therefore names an (image,
// GPUs, model) configuration: governance allows pairs, not images alone.
export function tdxMeasurement(m: TdxMeasurements, gpuEvidenceDigest: Buffer, modelHash: Buffer): Buffer {
    for (const [name, v] of Object.entries(m)) {
        if (v.length !== 48) throw new RangeError(`${name} must be 48 bytes, got ${v.length}`);
    }
    if (gpuEvidenceDigest.length !== 32) throw new RangeError('gpuEvidenceDigest must be 32 bytes');
    if (modelHash.length !== 32) throw new RangeError('modelHash must be 32 bytes');
    return Buffer.from(
        sha256(Buffer.concat([MEASUREMENT_DOMAIN, m.mrTd, m.rtMr0, m.rtMr1, m.rtMr2, m.rtMr3, gpuEvidenceDigest, modelHash])),
    );
}

// For SGX enclaves: SHA-256("cocoon-measurement-v1" || "sgx" || MRENCLAVE || MRSIGNER).
export function sgxMeasurement(mrEnclave: Buffer, mrSigner: Buffer): Buffer {
    if (mrEnclave.length !== 32 || mrSigner.length !== 32) throw new RangeError('MRENCLAVE and MRSIGNER must be 32 bytes');
    return Buffer.from(sha256(Buffer.concat([MEASUREMENT_DOMAIN, Buffer.from('sgx'), mrEnclave, mrSigner])));
}

export interface ReportDataBinding {
    signingKey: Buffer; // enclave ed25519 public key, 32 bytes
    encryptionKey: Buffer; // enclave X25519 public key, 32 bytes
    provider: Address; // the Provider contract the worker serves
    nonce: bigint; // issued by the verifier, single use, < 2^64
    modelHash: Buffer; // the model the worker serves, 32 bytes (worker model-hash)
}

// The binding's fields in a fixed layout: ed25519 key || X25519 key || provider workchain (int8) ||
// provider account id (32 bytes) || nonce (uint64, big-endian) || model hash (32 bytes).
function bindingBytes(b: ReportDataBinding): Buffer {
    if (b.signingKey.length !== 32 || b.encryptionKey.length !== 32) throw new RangeError('enclave keys must be 32 bytes');
    if (b.modelHash.length !== 32) throw new RangeError('the model hash must be 32 bytes');
    if (b.nonce < 0n || b.nonce >= 1n << 64n) throw new RangeError('nonce must fit in 64 bits');
    const workchain = Buffer.alloc(1);
    workchain.writeInt8(b.provider.workChain);
    const nonce = Buffer.alloc(8);
    nonce.writeBigUInt64BE(b.nonce);
    return Buffer.concat([b.signingKey, b.encryptionKey, workchain, b.provider.hash, nonce, b.modelHash]);
}

// report_data (64 bytes) = SHA-512("cocoon-report-data-v2" || ed25519 key || X25519 key ||
//                                  provider workchain (int8) || provider account id (32 bytes) ||
//                                  nonce (uint64, big-endian) || model hash (32 bytes)).
export function expectedReportData(b: ReportDataBinding): Buffer {
    return Buffer.from(sha512(Buffer.concat([REPORT_DATA_DOMAIN, bindingBytes(b)])));
}

// The nonce the worker puts in its GPU's SPDM GET_MEASUREMENTS request (32 bytes), from the same
// fields as report_data under its own domain: SHA-256("cocoon-gpu-nonce-v2" || the same fields in
// the same layout). A GPU report is then bound to this attestation, these keys and this provider,
// as the TDX quote is; it cannot be lifted from another machine or moment.
export function expectedGpuNonce(b: ReportDataBinding): Buffer {
    return Buffer.from(sha256(Buffer.concat([GPU_NONCE_DOMAIN, bindingBytes(b)])));
}

// ---------------------------------------------------------------------------------------------
// Sealing: a worker's key for its sealed enclave keys, released by verifiers to the same code
// ---------------------------------------------------------------------------------------------

const SEALING_REQUEST_DOMAIN = Buffer.from('cocoon-sealing-request-v1');
/** Domain of a verifier's signature over a sealing share it releases (and of the share's HPKE info). */
export const SEALING_SHARE_DOMAIN = Buffer.from('cocoon-sealing-share-v1');

/** What a worker asks a verifier's sealing share for: its provider, network and model, and the key the reply is sealed to. */
export interface SealingBinding {
    replyKey: Buffer; // a fresh X25519 public key whose private key never leaves the TD
    provider: Address;
    globalId: number; // the network (config param 19)
    modelHash: Buffer; // 32 bytes
}

/**
 * report_data of a sealing request (64 bytes) = SHA-512("cocoon-sealing-request-v1" || reply key ||
 * global id (int32, big-endian) || provider workchain (int8) || provider account id || model hash).
 */
export function sealingReportData(b: SealingBinding): Buffer {
    if (b.replyKey.length !== 32) throw new RangeError('the reply key must be 32 bytes');
    if (b.modelHash.length !== 32) throw new RangeError('the model hash must be 32 bytes');
    const id = Buffer.alloc(4);
    id.writeInt32BE(b.globalId);
    const workchain = Buffer.alloc(1);
    workchain.writeInt8(b.provider.workChain);
    return Buffer.from(sha512(Buffer.concat([SEALING_REQUEST_DOMAIN, b.replyKey, id, workchain, b.provider.hash, b.modelHash])));
}

const SEALING_GPU_NONCE_DOMAIN = Buffer.from('cocoon-sealing-gpu-nonce-v1');

/** The nonce of the GPU evidence that goes with a sealing request: SHA-256("cocoon-sealing-gpu-nonce-v1" || the report_data's fields). */
export function sealingGpuNonce(b: SealingBinding): Buffer {
    return Buffer.from(sha256(Buffer.concat([SEALING_GPU_NONCE_DOMAIN, sealingReportData(b)])));
}

/** The bytes a verifier signs when it releases a sealing share: the domain, the request's report data and the sealed share. */
export function sealingShareSigned(reportData: Buffer, sealed: { senderKey: Buffer; enc: Buffer; ciphertext: Buffer }): Buffer {
    return Buffer.concat([SEALING_SHARE_DOMAIN, reportData, sealed.senderKey, sealed.enc, sealed.ciphertext]);
}
