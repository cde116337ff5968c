// Verifying an Intel DCAP quote (TDX or SGX) with @phala/dcap-qvl against its collateral, then
// applying Cocoon's TCB policy. Every refusal is a QuoteRejected with a stable code and a message
// that names what was wrong; nothing here throws anything else on bad input.
import { Collateral, Quote, TcbStatus, verify } from '@phala/dcap-qvl';
import { sgxMeasurement, tdxMeasurement } from './measurement';

export type RejectionCode =
    | 'malformed-quote'
    | 'malformed-collateral'
    | 'invalid-quote' // a signature, certificate or hash in the quote or collateral does not verify
    | 'collateral-expired'
    | 'collateral-mismatch' // collateral for another platform or TEE type
    | 'tcb-rejected'
    | 'debug-enclave';

export class QuoteRejected extends Error {
    constructor(
        readonly code: RejectionCode,
        message: string,
    ) {
        super(message);
        this.name = 'QuoteRejected';
    }
}

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
    measurement: Buffer; // see measurement.ts
    tdx?: { mrTd: Buffer; rtMr0: Buffer; rtMr1: Buffer; rtMr2: Buffer; rtMr3: Buffer; tdAttributes: Buffer };
    sgx?: { mrEnclave: Buffer; mrSigner: Buffer; attributes: Buffer };
}

function classify(message: string): RejectionCode {
    if (/decode|parse|unexpected end|out of bounds|length/i.test(message)) return 'malformed-quote';
    if (/expired|not yet valid/i.test(message)) return 'collateral-expired';
    if (/Unsupported QE Identity|fmspc|mismatch.*tee|tee type/i.test(message)) return 'collateral-mismatch';
    if (/json|collateral/i.test(message)) return 'malformed-collateral';
    return 'invalid-quote';
}

// Verifies the quote's signatures, certificate chain and TCB level at `nowSecs` (a parameter so
// that tests can pin it inside the collateral's validity window), then applies `policy`.
export function verifyQuote(quote: Buffer, collateral: Collateral, nowSecs: number, policy: TcbPolicy = DEFAULT_TCB_POLICY): VerifiedQuote {
    const verified = inspectQuote(quote, collateral, nowSecs);
    applyTcbPolicy(verified, policy);
    return verified;
}

// Throws QuoteRejected('tcb-rejected') unless the policy accepts the quote's TCB status.
export function applyTcbPolicy(q: VerifiedQuote, policy: TcbPolicy) {
    const accepted =
        policy.acceptedStatuses.includes(q.tcbStatus) ||
        (q.tcbStatus === 'SWHardeningNeeded' && q.advisoryIds.every((a) => policy.allowedAdvisories.includes(a)));
    if (!accepted) {
        throw new QuoteRejected(
            'tcb-rejected',
            `TCB status ${q.tcbStatus}${q.advisoryIds.length ? ` with advisories ${q.advisoryIds.join(', ')}` : ''} is not accepted by the TCB policy`,
        );
    }
}

// The cryptographic part: the quote is genuine, its collateral current, the enclave not in
// debug mode. The TCB status is reported, not judged.
export function inspectQuote(quote: Buffer, collateral: Collateral, nowSecs: number): VerifiedQuote {
    let parsed: Quote;
    try {
        parsed = Quote.parse(quote);
    } catch (e) {
        throw new QuoteRejected('malformed-quote', `quote cannot be decoded: ${(e as Error).message}`);
    }
    let result;
    try {
        result = verify(quote, collateral, nowSecs);
    } catch (e) {
        const message = (e as Error).message ?? String(e);
        throw new QuoteRejected(classify(message), `quote does not verify: ${message}`);
    }

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
            measurement: tdxMeasurement(regs),
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

// A quote file may hold raw bytes or hex text (with or without 0x, whitespace ignored).
export function decodeQuoteFile(contents: Buffer): Buffer {
    const text = contents.toString('latin1').trim();
    if (/^(0x)?[0-9a-fA-F\s]+$/.test(text) && text.replace(/^0x|\s/g, '').length % 2 === 0 && text.length > 0) {
        return Buffer.from(text.replace(/^0x|\s/g, ''), 'hex');
    }
    return contents;
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
