// The tee-verifier's quote checks, on the real Intel DCAP quotes and collateral of
// ../shared/fixtures/dcap (public sample data of Phala's dcap-qvl, MIT licensed). Verification
// runs at a fixed time inside the collateral's validity window, never at the wall clock.
import fc from 'fast-check';
import { Quote } from '@phala/dcap-qvl';
import { Address } from '@ton/core';
import {
    DEFAULT_TCB_POLICY,
    QuoteRejected,
    VerifiedQuote,
    applyTcbPolicy,
    classifyLibraryError,
    decodeQuoteFile,
    inspectQuote,
    isDebugSgx,
    isDebugTd,
    parseCollateral,
    verifyQuote,
} from '../../tee-verifier/src/quote';
import { MAX_QUOTE_BYTES, expectedReportData, tdxMeasurement } from '../../protocol/evidence';
import { TCB_CODES, tcbCode } from '../../tee-verifier/src/attest';
import { TCB_SIMULATED, TCB_UP_TO_DATE } from '../../wrappers';
import { SGX_TIME, TDX_TIME, issued, nextUpdate, sgxCollateral, sgxQuote, tdxCollateral, tdxQuote, tdxQuoteFile } from './fixtures';
import { EXAMPLE_BINDING } from '../../testkit';

async function rejection(f: () => unknown): Promise<QuoteRejected> {
    try {
        await f();
    } catch (e) {
        if (e instanceof QuoteRejected) return e;
        throw new Error(`expected a QuoteRejected, got ${e}`);
    }
    throw new Error('expected a rejection, the quote was accepted');
}

describe('DCAP quote verification', () => {
    it('the TDX quote verifies as UpToDate, with its registers and measurement', async () => {
        const q = await verifyQuote(tdxQuote, tdxCollateral, TDX_TIME);
        expect([q.teeType, q.quoteVersion, q.tcbStatus, q.advisoryIds]).toEqual(['TDX', 4, 'UpToDate', []]);
        expect(q.reportData.length).toBe(64);
        expect(q.tdx!.mrTd.length).toBe(48);
        const { mrTd, rtMr0, rtMr1, rtMr2, rtMr3 } = q.tdx!;
        expect(q.measurement).toEqual(tdxMeasurement({ mrTd, rtMr0, rtMr1, rtMr2, rtMr3 }, Buffer.alloc(32), Buffer.alloc(32)));
        // the GPUs' digest and the model are part of what governance allowlists
        const regs = { mrTd, rtMr0, rtMr1, rtMr2, rtMr3 };
        expect(tdxMeasurement(regs, Buffer.alloc(32), Buffer.alloc(32, 1))).not.toEqual(q.measurement);
        expect(tdxMeasurement(regs, Buffer.alloc(32, 1), Buffer.alloc(32))).not.toEqual(q.measurement);
        expect(isDebugTd(q.tdx!.tdAttributes)).toBe(false);
    });

    it('the SGX quote is ConfigurationAndSWHardeningNeeded with INTEL-SA-00289 and INTEL-SA-00615', async () => {
        const q = await inspectQuote(sgxQuote, sgxCollateral, SGX_TIME);
        expect([q.teeType, q.tcbStatus, q.advisoryIds]).toEqual([
            'SGX',
            'ConfigurationAndSWHardeningNeeded',
            ['INTEL-SA-00289', 'INTEL-SA-00615'],
        ]);
        expect(q.sgx!.mrEnclave.length).toBe(32);
        // the default policy refuses it and says why
        const r = await rejection(() => verifyQuote(sgxQuote, sgxCollateral, SGX_TIME));
        expect(r.code).toBe('tcb-rejected');
        expect(r.message).toContain('ConfigurationAndSWHardeningNeeded');
        expect(r.message).toContain('INTEL-SA-00289, INTEL-SA-00615');
        // a policy that accepts that status lets it through
        const accepted = await verifyQuote(sgxQuote, sgxCollateral, SGX_TIME, {
            allowedAdvisories: [],
            acceptedStatuses: ['ConfigurationAndSWHardeningNeeded'],
        });
        expect(accepted.tcbStatus).toBe('ConfigurationAndSWHardeningNeeded');
    });

    it('a flipped byte anywhere in the signed part of the quote is rejected as invalid', async () => {
        const signedLength = Quote.parse(tdxQuote).signedLength();
        await fc.assert(
            fc.asyncProperty(fc.integer({ min: 0, max: signedLength - 1 }), fc.integer({ min: 0, max: 7 }), async (offset, bit) => {
                const tampered = Buffer.from(tdxQuote);
                tampered[offset] ^= 1 << bit;
                const r = await rejection(() => verifyQuote(tampered, tdxCollateral, TDX_TIME));
                expect(['invalid-quote', 'malformed-quote', 'collateral-mismatch']).toContain(r.code);
            }),
            { numRuns: 60 },
        );
        // header, report body and report_data in particular
        for (const offset of [8, 48, 200, 520, 600]) {
            const tampered = Buffer.from(tdxQuote);
            tampered[offset] ^= 0x01;
            expect((await rejection(() => verifyQuote(tampered, tdxCollateral, TDX_TIME))).code).toBe('invalid-quote');
        }
    });

    it('a flipped byte in the QE report or its signature is rejected', async () => {
        for (const offset of [700, 1000]) {
            const tampered = Buffer.from(tdxQuote);
            tampered[offset] ^= 0x01;
            expect((await rejection(() => verifyQuote(tampered, tdxCollateral, TDX_TIME))).code).toBe('invalid-quote');
        }
    });

    it('expired collateral is rejected', async () => {
        const r = await rejection(() => verifyQuote(tdxQuote, tdxCollateral, nextUpdate(tdxCollateral) + 86_400));
        expect(r.code).toBe('collateral-expired');
        expect(r.message).toMatch(/expired/i);
    });

    it('a verification time before the collateral was issued is collateral-not-yet-valid', async () => {
        const r = await rejection(() => verifyQuote(tdxQuote, tdxCollateral, issued(tdxCollateral) - 3600));
        expect(r.code).toBe('collateral-not-yet-valid');
    });

    it('collateral of another platform is rejected', async () => {
        expect((await rejection(() => verifyQuote(tdxQuote, sgxCollateral, TDX_TIME))).code).toBe('collateral-mismatch');
    });

    it('junk TCB info or QE identity is malformed collateral', async () => {
        for (const field of ['tcb_info', 'qe_identity'] as const) {
            const r = await rejection(() => verifyQuote(tdxQuote, { ...tdxCollateral, [field]: 'junk' }, TDX_TIME));
            expect([field, r.code]).toEqual([field, 'malformed-collateral']);
        }
    });

    it("names each of the library's failures with the check that failed", () => {
        expect(classifyLibraryError('No matching TCB level found')).toBe('tcb-rejected');
        expect(classifyLibraryError('TCB status is invalid: Revoked')).toBe('tcb-rejected');
        expect(classifyLibraryError('Failed to decode TcbInfo')).toBe('malformed-collateral');
        expect(classifyLibraryError('TCBInfo issue date is in the future')).toBe('collateral-not-yet-valid');
        expect(classifyLibraryError('QE Identity expired')).toBe('collateral-expired');
        expect(classifyLibraryError('Signature is invalid for tcb_info')).toBe('invalid-collateral');
        expect(classifyLibraryError('Certificate is revoked')).toBe('certificate-revoked');
        expect(classifyLibraryError('Certificate is expired or not yet valid')).toBe('certificate-expired');
        expect(classifyLibraryError('Fmspc mismatch')).toBe('collateral-mismatch');
        expect(classifyLibraryError('Unsupported DCAP quote version')).toBe('malformed-quote');
        expect(classifyLibraryError('ISV enclave report signature is invalid')).toBe('invalid-quote');
    });

    it('a truncated quote is rejected as malformed, whatever the length', async () => {
        const signedLength = Quote.parse(tdxQuote).signedLength();
        for (const length of [0, 1, 47, 48, signedLength - 1, signedLength + 3, 1000, tdxQuote.length - 1]) {
            const r = await rejection(() => verifyQuote(tdxQuote.subarray(0, length), tdxCollateral, TDX_TIME));
            expect(r.code).toBe('malformed-quote');
        }
    });

    it('exactly one quote: trailing bytes, zero padding included, are refused, and oversized input before parsing', async () => {
        let r = await rejection(() => verifyQuote(tdxQuoteFile, tdxCollateral, TDX_TIME));
        expect([r.code, r.message]).toEqual([
            'malformed-quote',
            `the quote declares ${tdxQuote.length} bytes but the input has 5006: 70 trailing bytes`,
        ]);
        r = await rejection(() => verifyQuote(tdxQuoteFile.subarray(0, tdxQuoteFile.length - 1), tdxCollateral, TDX_TIME));
        expect(r.message).toContain('69 trailing bytes');
        r = await rejection(() => verifyQuote(Buffer.concat([tdxQuote, Buffer.alloc(50 * 1024 * 1024, 0x41)]), tdxCollateral, TDX_TIME));
        expect([r.code, r.message]).toEqual([
            'malformed-quote',
            `the quote is ${tdxQuote.length + 50 * 1024 * 1024} bytes; a quote is at most ${MAX_QUOTE_BYTES}`,
        ]);
    });

    it('random bytes never crash the verifier', async () => {
        await fc.assert(
            fc.asyncProperty(fc.uint8Array({ maxLength: 6000 }), async (bytes) => {
                expect(await rejection(() => verifyQuote(Buffer.from(bytes), tdxCollateral, TDX_TIME))).toBeInstanceOf(QuoteRejected);
            }),
            { numRuns: 100 },
        );
    });

    it('malformed collateral is rejected with what is missing', async () => {
        expect((await rejection(() => parseCollateral('not json'))).code).toBe('malformed-collateral');
        const r = await rejection(() => parseCollateral('{"tcb_info": "{}"}'));
        expect(r.code).toBe('malformed-collateral');
        expect(r.message).toContain('qe_identity');
    });

    it('quote files may hold hex; text that is not clean hex says so', async () => {
        expect(decodeQuoteFile(Buffer.from(tdxQuote.toString('hex')))).toEqual(tdxQuote);
        expect(decodeQuoteFile(Buffer.from('0x' + tdxQuote.toString('hex') + '\n'))).toEqual(tdxQuote);
        expect(decodeQuoteFile(tdxQuote)).toEqual(tdxQuote);
        for (const text of ['zz', tdxQuote.toString('hex').slice(1), 'abc', '04 00 02 00 8x', '']) {
            const r = await rejection(() => decodeQuoteFile(Buffer.from(text)));
            expect(r.code).toBe('malformed-quote');
            expect(r.message).toMatch(/not hex|empty/);
        }
    });
});

describe('TCB policy', () => {
    let base: VerifiedQuote;
    beforeAll(async () => {
        base = await verifyQuote(tdxQuote, tdxCollateral, TDX_TIME);
    });
    const withStatus = (tcbStatus: VerifiedQuote['tcbStatus'], advisoryIds: string[]): VerifiedQuote => ({
        ...base,
        tcbStatus,
        advisoryIds,
    });

    it('accepts UpToDate by default and nothing else', async () => {
        expect(() => applyTcbPolicy(withStatus('UpToDate', []), DEFAULT_TCB_POLICY)).not.toThrow();
        for (const s of ['OutOfDate', 'ConfigurationNeeded', 'Revoked', 'SWHardeningNeeded'] as const) {
            expect((await rejection(() => applyTcbPolicy(withStatus(s, ['INTEL-SA-00001']), DEFAULT_TCB_POLICY))).code).toBe(
                'tcb-rejected',
            );
        }
    });

    it('accepts SWHardeningNeeded only when every advisory is allowlisted, naming the others', async () => {
        const policy = { ...DEFAULT_TCB_POLICY, allowedAdvisories: ['INTEL-SA-00615'] };
        expect(() => applyTcbPolicy(withStatus('SWHardeningNeeded', ['INTEL-SA-00615']), policy)).not.toThrow();
        const r = await rejection(() => applyTcbPolicy(withStatus('SWHardeningNeeded', ['INTEL-SA-00615', 'INTEL-SA-00289']), policy));
        expect(r.message).toContain('INTEL-SA-00289');
    });

    it('SWHardeningNeeded without advisory IDs is not accepted by default, nor by an advisory allowlist', async () => {
        for (const policy of [DEFAULT_TCB_POLICY, { ...DEFAULT_TCB_POLICY, allowedAdvisories: ['INTEL-SA-00615'] }]) {
            const r = await rejection(() => applyTcbPolicy(withStatus('SWHardeningNeeded', []), policy));
            expect([r.code, r.message]).toEqual([
                'tcb-rejected',
                'TCB status SWHardeningNeeded without advisory IDs is not accepted by the TCB policy',
            ]);
        }
        // accepting the status outright is the operator's explicit choice
        expect(() =>
            applyTcbPolicy(withStatus('SWHardeningNeeded', []), {
                allowedAdvisories: [],
                acceptedStatuses: ['UpToDate', 'SWHardeningNeeded'],
            }),
        ).not.toThrow();
    });

    it('recognises debug enclaves', () => {
        expect(isDebugTd(Buffer.from('0100000000000000', 'hex'))).toBe(true);
        expect(isDebugTd(Buffer.from('0000001000000000', 'hex'))).toBe(false);
        expect(isDebugSgx(Buffer.from('0700000000000000', 'hex'))).toBe(true);
        expect(isDebugSgx(Buffer.from('0500000000000000', 'hex'))).toBe(false);
    });
});

describe('report_data binding', () => {
    const binding = EXAMPLE_BINDING;

    it('is 64 bytes and changes with every bound field', () => {
        const base = expectedReportData(binding);
        expect(base.length).toBe(64);
        for (const change of [
            { signingKey: Buffer.alloc(32, 9) },
            { encryptionKey: Buffer.alloc(32, 9) },
            { provider: new Address(0, Buffer.alloc(32, 9)) },
            { provider: new Address(-1, Buffer.alloc(32, 3)) },
            { nonce: 43n },
            { modelHash: Buffer.alloc(32, 5) },
        ]) {
            expect(expectedReportData({ ...binding, ...change }).equals(base)).toBe(false);
        }
    });
});

describe('TCB status codes in proofs', () => {
    it('each Intel status maps to its constant of contracts/constants.tact', () => {
        expect(TCB_CODES).toEqual({
            UpToDate: Number(TCB_UP_TO_DATE),
            SWHardeningNeeded: 1,
            ConfigurationNeeded: 2,
            ConfigurationAndSWHardeningNeeded: 3,
            OutOfDate: 4,
            OutOfDateConfigurationNeeded: 5,
        });
        expect(Object.values(TCB_CODES)).not.toContain(Number(TCB_SIMULATED));
    });

    it.each(['Revoked', 'UpToDate2', '', 'uptodate'])('refuses status %j instead of recording a default', (status) => {
        expect(() => tcbCode(status)).toThrow(QuoteRejected);
        try {
            tcbCode(status);
        } catch (e) {
            expect((e as QuoteRejected).code).toBe('tcb-rejected');
        }
    });
});
