// NVIDIA confidential-computing GPU evidence (H100/H200): the SPDM 1.1 GET_MEASUREMENTS request and
// the GPU's signed MEASUREMENTS response, as NVIDIA's tooling collects it, with the GPU's attestation
// key certificate chain. Verified offline against pinned roots: the chain up to NVIDIA's device
// identity root, the ECDSA P-384 signature over request || response-without-signature with the
// leaf's key, the requester's nonce, and every measurement the reference integrity manifests (RIMs)
// give golden values for, the RIMs' own XML signatures chaining to NVIDIA's RIM root.
import { X509Certificate as NodeCertificate, createHash, verify as verifySignature } from 'crypto';
import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { DOMParser, Document } from '@xmldom/xmldom';
import { C14nCanonicalization, HashAlgorithm, SignatureAlgorithm, SignedXml } from 'xml-crypto';
import { X509Certificate } from '@peculiar/x509';
import { ChainProblem, ChainRejected, parseCertificate, parsePemChain, verifyChain } from './x509-chain';
import { MAX_GPU_REPORT_BYTES } from '../../protocol/evidence';

export type GpuRejectionCode =
    | 'malformed-report' // not the SPDM layout: wrong lengths, headers, trailing bytes
    | 'malformed-chain'
    | 'chain-incomplete' // an intermediate certificate is missing
    | 'chain-order' // the certificates are not leaf first, each followed by its issuer
    | 'chain-untrusted' // a signature in the chain does not verify, or it does not end at NVIDIA's root
    | 'chain-expired'
    | 'signature-invalid' // the report's signature does not verify with the leaf's key
    | 'nonce-mismatch'
    | 'rim-malformed'
    | 'rim-signature-invalid' // a RIM's XML signature or digest does not verify (an edited golden value)
    | 'rim-chain-invalid' // a RIM's signing chain does not lead to NVIDIA's RIM root
    | 'measurement-mismatch'
    | 'rim-version-mismatch' // the RIMs are for another driver or VBIOS than the report states
    | 'revocation-unchecked'; // OCSP needs the network: refused unless the policy is explicitly offline

export class GpuEvidenceRejected extends Error {
    constructor(
        readonly code: GpuRejectionCode,
        message: string,
        readonly details: Record<string, unknown> = {},
    ) {
        super(message);
        this.name = 'GpuEvidenceRejected';
    }
}

const fromChainProblem = (p: ChainProblem): GpuRejectionCode => (p === 'chain-malformed' ? 'malformed-chain' : p);

// ---- the report ----

const SPDM_VERSION_1_1 = 0x11;
const GET_MEASUREMENTS = 0xe0;
const MEASUREMENTS = 0x60;
const REQUEST_LENGTH = 37; // header (4), nonce (32), slot (1)
const NONCE_LENGTH = 32;
const SIGNATURE_LENGTH = 96; // ECDSA P-384, r || s
const DMTF_MEASUREMENT_SPEC = 0x01;
const OPAQUE_DRIVER_VERSION = 3;
const OPAQUE_VBIOS_VERSION = 6;

export interface GpuReport {
    requestNonce: Buffer; // the 32 bytes the requester (the worker, from the verifier's nonce) chose
    measurements: Map<number, Buffer>; // SPDM measurement block index -> value
    driverVersion: string;
    vbiosVersion: string; // as NVIDIA writes it, e.g. 96.00.5E.00.01
    signed: Buffer; // request || response without its signature
    signature: Buffer;
}

class Reader {
    private offset = 0;
    constructor(private readonly bytes: Buffer) {}
    take(n: number, what: string): Buffer {
        if (this.offset + n > this.bytes.length) throw new GpuEvidenceRejected('malformed-report', `the report ends inside ${what}`);
        const b = this.bytes.subarray(this.offset, this.offset + n);
        this.offset += n;
        return b;
    }
    u8 = (what: string) => this.take(1, what)[0];
    u16 = (what: string) => this.take(2, what).readUInt16LE();
    u24 = (what: string) => this.take(3, what).readUIntLE(0, 3);
    get position() {
        return this.offset;
    }
    get left() {
        return this.bytes.length - this.offset;
    }
}

const malformed = (message: string) => new GpuEvidenceRejected('malformed-report', message);

// The SPDM request and response, exactly: every length field must account for every byte.
export function parseGpuReport(bytes: Buffer): GpuReport {
    if (bytes.length > MAX_GPU_REPORT_BYTES)
        throw malformed(`the report is ${bytes.length} bytes; a report is at most ${MAX_GPU_REPORT_BYTES}`);
    const r = new Reader(bytes);
    const request = r.take(REQUEST_LENGTH, 'the request');
    if (request[0] !== SPDM_VERSION_1_1 || request[1] !== GET_MEASUREMENTS) {
        throw malformed(`the request is not SPDM 1.1 GET_MEASUREMENTS (starts ${request.subarray(0, 2).toString('hex')})`);
    }
    if ((request[2] & 0x01) === 0) throw malformed('the request did not ask for a signature');
    if (r.u8('the response header') !== SPDM_VERSION_1_1 || r.u8('the response header') !== MEASUREMENTS) {
        throw malformed('the response is not SPDM 1.1 MEASUREMENTS');
    }
    r.take(2, 'the response header'); // param1, param2 (slot)
    const blockCount = r.u8('the block count');
    const recordLength = r.u24('the record length');
    const record = new Reader(r.take(recordLength, 'the measurement record'));
    const measurements = new Map<number, Buffer>();
    for (let i = 0; i < blockCount; i++) {
        const index = record.u8('a measurement block');
        if (record.u8('a measurement block') !== DMTF_MEASUREMENT_SPEC)
            throw malformed(`measurement block ${index} is not in the DMTF format`);
        const size = record.u16('a measurement block');
        const block = new Reader(record.take(size, `measurement block ${index}`));
        block.u8('a measurement value type');
        const value = block.take(block.u16('a measurement value size'), `measurement block ${index}`);
        if (block.left !== 0) throw malformed(`measurement block ${index} has ${block.left} bytes after its value`);
        if (measurements.has(index)) throw malformed(`measurement block ${index} appears twice`);
        measurements.set(index, Buffer.from(value));
    }
    if (record.left !== 0) throw malformed(`the measurement record has ${record.left} bytes after its ${blockCount} blocks`);
    r.take(NONCE_LENGTH, 'the responder nonce');
    const opaque = parseOpaque(r.take(r.u16('the opaque data length'), 'the opaque data'));
    const signedLength = r.position;
    const signature = r.take(SIGNATURE_LENGTH, 'the signature');
    if (r.left !== 0) throw malformed(`the report has ${r.left} bytes after the signature`);
    const driver = opaque.get(OPAQUE_DRIVER_VERSION);
    const vbios = opaque.get(OPAQUE_VBIOS_VERSION);
    if (!driver || !vbios || vbios.length < 5) throw malformed('the opaque data lacks the driver or VBIOS version');
    return {
        requestNonce: Buffer.from(request.subarray(4, 4 + NONCE_LENGTH)),
        measurements,
        driverVersion: driver.toString('latin1').replace(/\0+$/, ''),
        // little-endian: the low 32 bits as four dotted bytes, most significant first, then the OEM byte
        vbiosVersion: [3, 2, 1, 0, 4].map((i) => vbios[i].toString(16).padStart(2, '0').toUpperCase()).join('.'),
        signed: Buffer.from(bytes.subarray(0, signedLength)),
        signature: Buffer.from(signature),
    };
}

// Opaque data: (type u16, length u16, value) fields, little-endian, filling it exactly.
function parseOpaque(data: Buffer): Map<number, Buffer> {
    const r = new Reader(data);
    const fields = new Map<number, Buffer>();
    while (r.left > 0) {
        const type = r.u16('an opaque field');
        fields.set(type, r.take(r.u16('an opaque field'), `opaque field ${type}`));
    }
    return fields;
}

// ---- reference integrity manifests ----

const XMLDSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const ECDSA_SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384';
const SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#sha384';
const C14N_11 = 'http://www.w3.org/2006/12/xml-c14n11';

// The three algorithms NVIDIA's RIMs use and xml-crypto lacks. Verification only.
class EcdsaSha384 implements SignatureAlgorithm {
    getSignature(): string {
        throw new Error('RIMs are only verified here, never signed');
    }
    verifySignature(material: string, key: Parameters<SignatureAlgorithm['verifySignature']>[1], signatureValue: string): boolean {
        // XML-DSig ECDSA signatures are r || s (RFC 4050), not DER
        return verifySignature(
            'sha384',
            Buffer.from(material, 'utf8'),
            { key: key as string, dsaEncoding: 'ieee-p1363' }, // a PEM certificate: xml-crypto passes publicCert
            Buffer.from(signatureValue, 'base64'),
        );
    }
    getAlgorithmName() {
        return ECDSA_SHA384;
    }
}

class Sha384 implements HashAlgorithm {
    getHash(xml: string): string {
        return createHash('sha384').update(xml, 'utf8').digest('base64');
    }
    getAlgorithmName() {
        return SHA384;
    }
}

// C14N 1.1 differs from inclusive C14N 1.0 only in xml:id/xml:base fix-ups in document subsets,
// which these whole-document, enveloped signatures never involve.
class C14n11 extends C14nCanonicalization {
    getAlgorithmName() {
        return C14N_11;
    }
}

export interface VerifiedRim {
    tagId: string;
    version: string; // colloquialVersion: the driver or VBIOS version it describes
    golden: Map<number, Buffer[]>; // RIM measurement index -> accepted values (active entries only)
    validFrom: Date; // the signing chain's common validity window
    validUntil: Date;
}

const rimRejected = (code: GpuRejectionCode, message: string) => new GpuEvidenceRejected(code, message);

function parseXml(xml: string, what: string): Document {
    try {
        return new DOMParser().parseFromString(xml, 'text/xml');
    } catch (e) {
        throw rimRejected('rim-malformed', `${what} is not XML (${(e as Error).message})`);
    }
}

// Verifies a RIM's XML signature with the certificate chain in its KeyInfo, that chain up to
// `rimRoot`, and returns the golden values read from the signed bytes (never from the unsigned
// document: nothing outside the signature can add or change one).
export async function verifyRim(xml: string, rimRoot: X509Certificate, at: Date): Promise<VerifiedRim> {
    const doc = parseXml(xml, 'the RIM');
    const signatures = doc.getElementsByTagNameNS(XMLDSIG_NS, 'Signature');
    if (signatures.length !== 1) throw rimRejected('rim-malformed', `the RIM holds ${signatures.length} XML signatures, not one`);
    const signatureNode = signatures[0];
    const chainElements = Array.from(signatureNode.getElementsByTagNameNS(XMLDSIG_NS, 'X509Certificate'));
    const chain = chainElements.map((e) => {
        try {
            return parseCertificate(Buffer.from((e.textContent ?? '').replace(/\s+/g, ''), 'base64'));
        } catch {
            throw rimRejected('rim-malformed', 'a certificate in the RIM signature does not parse');
        }
    });
    try {
        await verifyChain(chain, rimRoot, at);
    } catch (e) {
        if (e instanceof ChainRejected) throw rimRejected('rim-chain-invalid', `the RIM's signing chain: ${e.message}`);
        throw e;
    }
    const signed = new SignedXml({ publicCert: chain[0].toString('pem'), getCertFromKeyInfo: () => null });
    signed.SignatureAlgorithms[ECDSA_SHA384] = EcdsaSha384;
    signed.HashAlgorithms[SHA384] = Sha384;
    signed.CanonicalizationAlgorithms[C14N_11] = C14n11;
    let valid = false;
    try {
        signed.loadSignature(signatureNode as never); // xml-crypto types it with the DOM's Node, which it is
        valid = signed.checkSignature(xml);
    } catch (e) {
        throw rimRejected('rim-signature-invalid', `the RIM's XML signature does not verify (${(e as Error).message})`);
    }
    const references = signed.getReferences();
    const contents = signed.getSignedReferences();
    if (!valid || contents.length !== 1 || references.length !== 1 || references[0].uri !== '') {
        throw rimRejected('rim-signature-invalid', "the RIM's XML signature does not verify over the whole document");
    }
    const rim = parseXml(contents[0], 'the signed RIM').documentElement;
    if (!rim) throw rimRejected('rim-malformed', 'the signed part of the RIM has no root element');
    const meta = rim.getElementsByTagNameNS('*', 'Meta')[0];
    const golden = new Map<number, Buffer[]>();
    for (const resource of Array.from(rim.getElementsByTagNameNS('*', 'Resource'))) {
        if (resource.getAttribute('type') !== 'Measurement' || resource.getAttribute('active') !== 'True') continue;
        const index = Number(resource.getAttribute('index'));
        const alternatives = Number(resource.getAttribute('alternatives'));
        const values = Array.from(
            { length: alternatives },
            (_, k) => Array.from(resource.attributes).find((a) => a.localName === `Hash${k}`)?.value,
        );
        if (!Number.isInteger(index) || index < 0 || !(alternatives > 0) || values.some((v) => !v || !/^([0-9a-fA-F]{2})+$/.test(v))) {
            throw rimRejected(
                'rim-malformed',
                `the RIM's measurement ${resource.getAttribute('index')} is not an index with hex golden values`,
            );
        }
        if (golden.has(index)) throw rimRejected('rim-malformed', `the RIM lists measurement ${index} twice`);
        golden.set(
            index,
            values.map((v) => Buffer.from(v!, 'hex')),
        );
    }
    if (!meta?.getAttribute('colloquialVersion') || golden.size === 0) {
        throw rimRejected('rim-malformed', 'the RIM names no version or holds no active measurement');
    }
    return {
        tagId: rim.getAttribute('tagId') ?? '',
        version: meta.getAttribute('colloquialVersion')!,
        golden,
        validFrom: new Date(Math.max(...[...chain, rimRoot].map((c) => c.notBefore.getTime()))),
        validUntil: new Date(Math.min(...[...chain, rimRoot].map((c) => c.notAfter.getTime()))),
    };
}

// RIMs are the verifier's configuration, the same for every report: each is verified once (by the
// hash of its text and the root) and its chain's validity window checked on every use.
const rimCache = new Map<string, Promise<VerifiedRim>>();

async function cachedRim(xml: string, rimRoot: X509Certificate, at: Date): Promise<VerifiedRim> {
    const key = createHash('sha256').update(xml).update(Buffer.from(rimRoot.rawData)).digest('hex');
    let pending = rimCache.get(key);
    if (!pending) {
        pending = verifyRim(xml, rimRoot, at);
        rimCache.set(key, pending);
        pending.catch(() => rimCache.delete(key)); // failures are not remembered: a later time may pass
    }
    const rim = await pending;
    if (at < rim.validFrom || at > rim.validUntil) {
        throw rimRejected(
            'rim-chain-invalid',
            `the RIM ${rim.tagId} is signed by a chain valid from ${rim.validFrom.toISOString()} to ${rim.validUntil.toISOString()}, not at ${at.toISOString()}`,
        );
    }
    return rim;
}

// ---- the whole check ----

export interface GpuTrust {
    deviceRoot: X509Certificate; // NVIDIA Device Identity CA
    rimRoot: X509Certificate; // NVIDIA CoRIM signing Root CA
    rims: string[]; // RIM XML texts: the driver's and the VBIOS's
    // OCSP needs the network, which this verifier never uses: 'offline' accepts evidence without
    // it (an explicit operator policy); 'required' refuses every report that passed everything else.
    revocation: 'offline' | 'required';
}

export interface VerifiedGpuEvidence {
    driverVersion: string;
    vbiosVersion: string;
    measurementsChecked: number;
    digest: Buffer; // see gpuEvidenceDigest
    deviceKey: Buffer; // the GPU's attestation key (SPKI DER): one GPU, one key
}

export const loadCertificate = (pem: string) => parsePemChain(pem)[0];

// NVIDIA's two roots, pinned in tee-verifier/data/ (next to src/ in the sources, three levels up
// from dist/tee-verifier/src/ in the compiled code).
export function nvidiaRoots(): Pick<GpuTrust, 'deviceRoot' | 'rimRoot'> {
    const data = [join(__dirname, '..', 'data'), join(__dirname, '..', '..', '..', 'tee-verifier', 'data')].find(existsSync)!;
    const read = (name: string) => loadCertificate(readFileSync(join(data, name), 'utf8'));
    return { deviceRoot: read('nvidia_device_root.pem'), rimRoot: read('nvidia_rim_root.pem') };
}

// The digest of verified GPU evidence that a TDX measurement includes (protocol/evidence.ts):
// SHA-256("cocoon-gpu-evidence-v1" || for each golden-checked measurement in index order: RIM
// index (uint16, big-endian) || value). It names what the GPU runs (driver and VBIOS, through
// their measurements), never the nonce or the device: every GPU of one configuration gets the
// same digest, so governance can allowlist it.
export function gpuEvidenceDigest(checked: [number, Buffer][]): Buffer {
    const h = createHash('sha256').update('cocoon-gpu-evidence-v1');
    for (const [index, value] of [...checked].sort((a, b) => a[0] - b[0])) {
        const i = Buffer.alloc(2);
        i.writeUInt16BE(index);
        h.update(i).update(value);
    }
    return h.digest();
}

// What a measurement includes for a machine's GPUs: SHA-256("cocoon-gpu-set-v1" || count (uint8)
// || each GPU's gpuEvidenceDigest, sorted), so the order the worker lists its GPUs in is irrelevant.
export function gpuSetDigest(digests: Buffer[]): Buffer {
    const h = createHash('sha256')
        .update('cocoon-gpu-set-v1')
        .update(Buffer.from([digests.length]));
    for (const d of [...digests].sort(Buffer.compare)) h.update(d);
    return h.digest();
}

export async function verifyGpuEvidence(
    evidence: { report: Buffer; certChain: string },
    expectedNonce: Buffer,
    trust: GpuTrust,
    at: Date,
): Promise<VerifiedGpuEvidence> {
    const report = parseGpuReport(evidence.report);
    let chain: X509Certificate[];
    try {
        chain = parsePemChain(evidence.certChain);
        await verifyChain(chain, trust.deviceRoot, at);
    } catch (e) {
        if (e instanceof ChainRejected)
            throw new GpuEvidenceRejected(fromChainProblem(e.problem), `device certificate chain: ${e.message}`);
        throw e;
    }
    const leafKey = new NodeCertificate(Buffer.from(chain[0].rawData)).publicKey;
    const signatureValid = verifySignature('sha384', report.signed, { key: leafKey, dsaEncoding: 'ieee-p1363' }, report.signature);
    if (!signatureValid) {
        throw new GpuEvidenceRejected(
            'signature-invalid',
            "the report's signature over request and response does not verify with the device key",
        );
    }
    if (!report.requestNonce.equals(expectedNonce)) {
        throw new GpuEvidenceRejected(
            'nonce-mismatch',
            `the report answers nonce ${report.requestNonce.toString('hex')}, expected ${expectedNonce.toString('hex')}`,
        );
    }
    const rims = await Promise.all(trust.rims.map((xml) => cachedRim(xml, trust.rimRoot, at)));
    const golden = new Map<number, Buffer[]>();
    for (const rim of rims) {
        for (const [index, values] of rim.golden) {
            if (golden.has(index)) throw rimRejected('rim-malformed', `two RIMs give golden values for measurement ${index}`);
            golden.set(index, values);
        }
    }
    // RIM index i is SPDM measurement block i + 1
    const checked: [number, Buffer][] = [];
    const mismatched: number[] = [];
    for (const [index, values] of [...golden].sort((a, b) => a[0] - b[0])) {
        const actual = report.measurements.get(index + 1);
        if (!actual || !values.some((v) => v.equals(actual))) mismatched.push(index);
        else checked.push([index, actual]);
    }
    const versions = { driverVersion: report.driverVersion, vbiosVersion: report.vbiosVersion };
    if (mismatched.length) {
        throw new GpuEvidenceRejected(
            'measurement-mismatch',
            `${mismatched.length} of ${golden.size} measurements differ from the RIMs' golden values, at RIM indices ${mismatched.join(', ')} (driver ${report.driverVersion}, VBIOS ${report.vbiosVersion}; RIMs for ${rims.map((r) => r.version).join(' and ')})`,
            { mismatchedIndices: mismatched, ...versions },
        );
    }
    const reported = [report.driverVersion, report.vbiosVersion].map((v) => v.toUpperCase());
    const stray = rims.filter((r) => !reported.includes(r.version.toUpperCase()));
    if (stray.length) {
        throw new GpuEvidenceRejected(
            'rim-version-mismatch',
            `the RIMs are for ${stray.map((r) => r.version).join(', ')}; the GPU runs driver ${report.driverVersion} and VBIOS ${report.vbiosVersion}`,
            versions,
        );
    }
    if (trust.revocation !== 'offline') {
        throw new GpuEvidenceRejected(
            'revocation-unchecked',
            'the evidence verifies, but OCSP revocation of the device and RIM certificates needs the network, which this verifier does not use: refused unless the offline revocation policy is chosen explicitly',
            versions,
        );
    }
    const deviceKey = leafKey.export({ type: 'spki', format: 'der' });
    return { ...versions, measurementsChecked: checked.length, digest: gpuEvidenceDigest(checked), deviceKey };
}
