// Verifying an Intel DCAP quote (TDX or SGX) with @phala/dcap-qvl against its collateral, then
// applying Cocoon's TCB policy. Every refusal is a QuoteRejected with a stable code and a message
// that names what was wrong; nothing here throws anything else on bad input. Around the library:
// the input must be exactly one quote (its declared length, no trailing bytes, at most
// MAX_QUOTE_BYTES), and revocation is checked fail-closed (revocation.ts).
import { Collateral, Quote, TcbStatus, verify } from '@phala/dcap-qvl';
import { NotHex, decodeHexOrBinary } from './bytes';
import { MAX_QUOTE_BYTES, sgxMeasurement, tdxMeasurement, NO_GPU_EVIDENCE } from '../../protocol/evidence';
import { QuoteRejected, RejectionCode } from './rejected';
import { checkRevocation, requireCrls } from './revocation';

export { QuoteRejected, type RejectionCode } from './rejected';

export interface TcbPolicy {
    // SWHardeningNeeded is accepted only when every advisory it lists is in this set.
    allowedAdvisories: string[];
    // Statuses accepted outright. Default: UpToDate only.
    acceptedStatuses: TcbStatus[];
}

export const DEFAULT_TCB_POLICY: TcbPolicy = { allowedAdvisories: [], acceptedStatuses: ['UpToDate'] };

export interface VerifiedQuote {
    teeType: 'TDX' | 'SGX';
    quoteVersion: number;
    tcbStatus: TcbStatus;
    advisoryIds: string[];
    reportData: Buffer;
    measurement: Buffer; // see protocol/evidence.ts
    tdx?: { mrTd: Buffer; rtMr0: Buffer; rtMr1: Buffer; rtMr2: Buffer; rtMr3: Buffer; tdAttributes: Buffer };
    sgx?: { mrEnclave: Buffer; mrSigner: Buffer; attributes: Buffer };
}

// @phala/dcap-qvl throws plain Errors; each of its messages maps to the check that failed.
// Anything unknown is a verification failure.
const LIBRARY_ERRORS: [RegExp, RejectionCode][] = [
    [/issue date is in the future/, 'collateral-not-yet-valid'],
    [/TCBInfo expired|QE Identity expired/, 'collateral-expired'],
    [
        /Failed to decode (TcbInfo|QeIdentity)|chain is too short for (TCB Info|QE Identity)|from collateral|components in the TCB info|No TCB levels/,
        'malformed-collateral',
    ],
    [/Signature is invalid for (tcb_info|qe_identity)/, 'invalid-collateral'],
    [/Fmspc mismatch|non-(TDX|SGX) TCB info|Unsupported QE Identity/, 'collateral-mismatch'],
    [/No matching TCB level found|TCB status is invalid|QE ISVSVN .* below minimum/, 'tcb-rejected'],
    [/Certificate is expired or not yet valid/, 'certificate-expired'],
    [/Certificate is revoked/, 'certificate-revoked'],
    [/Debug mode is enabled/, 'debug-enclave'],
    [/Reserved bits in TD attributes|SEPT_VE_DISABLE|mr service td/, 'attributes-refused'],
    [
        /Failed to decode quote|Unsupported (DCAP|quote|auth|body|cert)|must have version|Invalid (tee|TEE) type|Not enough data|Failed to extract PCK certificates from quote|chain is too short in quote|Certification data type|Invalid certificate|Intel extension|OID .* is missing|length mismatch|Key length/,
        'malformed-quote',
    ],
];

export function classifyLibraryError(message: string): RejectionCode {
    return LIBRARY_ERRORS.find(([pattern]) => pattern.test(message))?.[1] ?? 'invalid-quote';
}

// Verifies the quote's signatures, certificate chain, revocation and TCB level at `nowSecs` (a
// parameter so that tests can pin it inside the collateral's validity window), then applies `policy`.
export async function verifyQuote(
    quote: Buffer,
    collateral: Collateral,
    nowSecs: number,
    policy: TcbPolicy = DEFAULT_TCB_POLICY,
): Promise<VerifiedQuote> {
    const verified = await inspectQuote(quote, collateral, nowSecs);
    applyTcbPolicy(verified, policy);
    return verified;
}

// Throws QuoteRejected('tcb-rejected') unless the policy accepts the quote's TCB status.
// SWHardeningNeeded passes on advisories only when it names some and every one is allowlisted:
// without advisory IDs there is nothing the operator has judged.
export function applyTcbPolicy(q: VerifiedQuote, policy: TcbPolicy) {
    const advisoriesAllowed =
        q.tcbStatus === 'SWHardeningNeeded' && q.advisoryIds.length > 0 && q.advisoryIds.every((a) => policy.allowedAdvisories.includes(a));
    if (!policy.acceptedStatuses.includes(q.tcbStatus) && !advisoriesAllowed) {
        const advisories = q.advisoryIds.length ? ` with advisories ${q.advisoryIds.join(', ')}` : ' without advisory IDs';
        throw new QuoteRejected('tcb-rejected', `TCB status ${q.tcbStatus}${advisories} is not accepted by the TCB policy`);
    }
}

// The length a quote declares: its signed part, a 4-byte size, then that many bytes of signature data.
function declaredLength(parsed: Quote, quote: Buffer): number {
    const signed = parsed.signedLength();
    return signed + 4 + quote.readUInt32LE(signed);
}

// The cryptographic part: the input is exactly one genuine quote, its collateral current and its
// certificates unrevoked, the enclave not in debug mode. The TCB status is reported, not judged.
export async function inspectQuote(quote: Buffer, collateral: Collateral, nowSecs: number): Promise<VerifiedQuote> {
    if (quote.length > MAX_QUOTE_BYTES) {
        throw new QuoteRejected('malformed-quote', `the quote is ${quote.length} bytes; a quote is at most ${MAX_QUOTE_BYTES}`);
    }
    let parsed: Quote;
    let length: number;
    try {
        parsed = Quote.parse(quote);
        length = declaredLength(parsed, quote);
    } catch (e) {
        throw new QuoteRejected('malformed-quote', `quote cannot be decoded: ${(e as Error).message}`);
    }
    if (quote.length !== length) {
        throw new QuoteRejected(
            'malformed-quote',
            `the quote declares ${length} bytes but the input has ${quote.length}: ${quote.length > length ? `${quote.length - length} trailing bytes` : 'it is cut short'}`,
        );
    }
    requireCrls(collateral);
    let result;
    try {
        result = verify(quote, collateral, nowSecs);
    } catch (e) {
        const message = (e as Error).message ?? String(e);
        throw new QuoteRejected(classifyLibraryError(message), `quote does not verify: ${message}`);
    }
    const pckChain = (collateral as { pck_certificate_chain?: string }).pck_certificate_chain ?? parsed.rawCertChain();
    await checkRevocation(pckChain, collateral, nowSecs);

    const status = result.status;
    const advisories = result.advisory_ids ?? [];

    const report = parsed.report;
    const td = report.asTd15()?.base ?? report.asTd10();
    if (td) {
        const b = (x: Uint8Array) => Buffer.from(x);
        const tdAttributes = b(td.tdAttributes);
        if (isDebugTd(tdAttributes)) throw new QuoteRejected('debug-enclave', 'the TD runs in debug mode (TDATTRIBUTES.DEBUG set)');
        const regs = { mrTd: b(td.mrTd), rtMr0: b(td.rtMr0), rtMr1: b(td.rtMr1), rtMr2: b(td.rtMr2), rtMr3: b(td.rtMr3) };
        return {
            teeType: 'TDX',
            quoteVersion: parsed.header.version,
            tcbStatus: status,
            advisoryIds: advisories,
            reportData: b(td.reportData),
            // this image's measurement with no GPU evidence and the zero model hash; a worker's folds
            // in its GPUs' digest and its model (protocol/evidence.ts, verify-quote --model-hash)
            measurement: tdxMeasurement(regs, NO_GPU_EVIDENCE, NO_GPU_EVIDENCE),
            tdx: { ...regs, tdAttributes },
        };
    }
    const sgx = report.asSgx()!;
    const attributes = Buffer.from(sgx.attributes);
    if (isDebugSgx(attributes)) throw new QuoteRejected('debug-enclave', 'the enclave runs in debug mode (ATTRIBUTES.DEBUG set)');
    return {
        teeType: 'SGX',
        quoteVersion: parsed.header.version,
        tcbStatus: status,
        advisoryIds: advisories,
        reportData: Buffer.from(sgx.reportData),
        measurement: sgxMeasurement(Buffer.from(sgx.mrEnclave), Buffer.from(sgx.mrSigner)),
        sgx: { mrEnclave: Buffer.from(sgx.mrEnclave), mrSigner: Buffer.from(sgx.mrSigner), attributes },
    };
}

// TDATTRIBUTES bit 0 is DEBUG: the host can read a debug TD's memory.
export function isDebugTd(tdAttributes: Buffer): boolean {
    return (tdAttributes[0] & 0x01) !== 0;
}

// SGX ATTRIBUTES.DEBUG is bit 1 of the first byte.
export function isDebugSgx(attributes: Buffer): boolean {
    return (attributes[0] & 0x02) !== 0;
}

// A quote file holds raw bytes or hex text (bytes.ts).
export function decodeQuoteFile(contents: Buffer): Buffer {
    if (contents.length > 3 * MAX_QUOTE_BYTES) {
        throw new QuoteRejected('malformed-quote', `the quote file is ${contents.length} bytes; a quote is at most ${MAX_QUOTE_BYTES}`);
    }
    try {
        return decodeHexOrBinary(contents, 'quote file');
    } catch (e) {
        if (e instanceof NotHex) throw new QuoteRejected('malformed-quote', e.message);
        throw e;
    }
}

export function parseCollateral(json: string): Collateral {
    let data: unknown;
    try {
        data = JSON.parse(json);
    } catch (e) {
        throw new QuoteRejected('malformed-collateral', `collateral is not JSON: ${(e as Error).message}`);
    }
    const required = [
        'pck_crl_issuer_chain',
        'root_ca_crl',
        'pck_crl',
        'tcb_info_issuer_chain',
        'tcb_info',
        'tcb_info_signature',
        'qe_identity_issuer_chain',
        'qe_identity',
        'qe_identity_signature',
    ];
    const missing = required.filter((k) => typeof data !== 'object' || data === null || !(k in data));
    if (missing.length) throw new QuoteRejected('malformed-collateral', `collateral lacks ${missing.join(', ')}`);
    return data as Collateral;
}
