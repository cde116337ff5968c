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
    decodeQuoteFile,
    inspectQuote,
    isDebugSgx,
    isDebugTd,
    parseCollateral,
    verifyQuote,
} from '../../tee-verifier/src/quote';
import { expectedReportData, tdxMeasurement } from '../../tee-verifier/src/measurement';
import { SGX_TIME, TDX_TIME, nextUpdate, sgxCollateral, sgxQuote, tdxCollateral, tdxQuote } from './fixtures';

function rejection(f: () => unknown): QuoteRejected {
    try {
        f();
    } catch (e) {
        if (e instanceof QuoteRejected) return e;
        throw new Error(`expected a QuoteRejected, got ${e}`);
    }
    throw new Error('expected a rejection, the quote was accepted');
}

describe('DCAP quote verification', () => {
    it('the TDX quote verifies as UpToDate, with its registers and measurement', () => {
        const q = verifyQuote(tdxQuote, tdxCollateral, TDX_TIME);
        expect([q.teeType, q.quoteVersion, q.tcbStatus, q.advisoryIds]).toEqual(['TDX', 4, 'UpToDate', []]);
        expect(q.reportData.length).toBe(64);
        expect(q.tdx!.mrTd.length).toBe(48);
        const { mrTd, rtMr0, rtMr1, rtMr2, rtMr3 } = q.tdx!;
        expect(q.measurement).toEqual(tdxMeasurement({ mrTd, rtMr0, rtMr1, rtMr2, rtMr3 }));
        expect(isDebugTd(q.tdx!.tdAttributes)).toBe(false);
    });

    it('the SGX quote is ConfigurationAndSWHardeningNeeded with INTEL-SA-00289 and INTEL-SA-00615', () => {
        const q = inspectQuote(sgxQuote, sgxCollateral, SGX_TIME);
        expect([q.teeType, q.tcbStatus, q.advisoryIds]).toEqual([
            'SGX',
            'ConfigurationAndSWHardeningNeeded',
            ['INTEL-SA-00289', 'INTEL-SA-00615'],
        ]);
        expect(q.sgx!.mrEnclave.length).toBe(32);
        // the default policy refuses it and says why
        const r = rejection(() => verifyQuote(sgxQuote, sgxCollateral, SGX_TIME));
        expect(r.code).toBe('tcb-rejected');
        expect(r.message).toContain('ConfigurationAndSWHardeningNeeded');
        expect(r.message).toContain('INTEL-SA-00289, INTEL-SA-00615');
        // a policy that accepts that status lets it through
        expect(
            verifyQuote(sgxQuote, sgxCollateral, SGX_TIME, {
                allowedAdvisories: [],
                acceptedStatuses: ['ConfigurationAndSWHardeningNeeded'],
            }).tcbStatus,
        ).toBe('ConfigurationAndSWHardeningNeeded');
    });

    it('a flipped byte anywhere in the signed part of the quote is rejected as invalid', () => {
        const signedLength = Quote.parse(tdxQuote).signedLength();
        fc.assert(
            fc.property(fc.integer({ min: 0, max: signedLength - 1 }), fc.integer({ min: 0, max: 7 }), (offset, bit) => {
                const tampered = Buffer.from(tdxQuote);
                tampered[offset] ^= 1 << bit;
                const r = rejection(() => verifyQuote(tampered, tdxCollateral, TDX_TIME));
                expect(['invalid-quote', 'malformed-quote', 'collateral-mismatch']).toContain(r.code);
            }),
            { numRuns: 60 },
        );
        // header, report body and report_data in particular
        for (const offset of [8, 48, 200, 520, 600]) {
            const tampered = Buffer.from(tdxQuote);
            tampered[offset] ^= 0x01;
            expect(rejection(() => verifyQuote(tampered, tdxCollateral, TDX_TIME)).code).toBe('invalid-quote');
        }
    });

    it('a flipped byte in the QE report or its signature is rejected', () => {
        for (const offset of [700, 1000]) {
            const tampered = Buffer.from(tdxQuote);
            tampered[offset] ^= 0x01;
            expect(rejection(() => verifyQuote(tampered, tdxCollateral, TDX_TIME)).code).toBe('invalid-quote');
        }
    });

    it('expired collateral is rejected', () => {
        const r = rejection(() => verifyQuote(tdxQuote, tdxCollateral, nextUpdate(tdxCollateral) + 86_400));
        expect(r.code).toBe('collateral-expired');
        expect(r.message).toMatch(/expired/i);
    });

    it('collateral of another platform is rejected', () => {
        expect(rejection(() => verifyQuote(tdxQuote, sgxCollateral, TDX_TIME)).code).toBe('collateral-mismatch');
    });

    it('a truncated quote is rejected as malformed, whatever the length', () => {
        // The quote declares its length: the signed part, a 4-byte size, then that many bytes of
        // signature data. (The fixture carries zero padding after it, which verifiers ignore.)
        const signedLength = Quote.parse(tdxQuote).signedLength();
        const declared = signedLength + 4 + tdxQuote.readUInt32LE(signedLength);
        expect(declared).toBeLessThan(tdxQuote.length);
        for (const length of [0, 1, 47, 48, signedLength - 1, signedLength + 3, 1000, declared - 1]) {
            expect(rejection(() => verifyQuote(tdxQuote.subarray(0, length), tdxCollateral, TDX_TIME)).code).toMatch(
                /malformed-quote|invalid-quote/,
            );
        }
    });

    it('random bytes never crash the verifier', () => {
        fc.assert(
            fc.property(fc.uint8Array({ maxLength: 6000 }), (bytes) => {
                expect(rejection(() => verifyQuote(Buffer.from(bytes), tdxCollateral, TDX_TIME))).toBeInstanceOf(QuoteRejected);
            }),
            { numRuns: 100 },
        );
    });

    it('malformed collateral is rejected with what is missing', () => {
        expect(rejection(() => parseCollateral('not json')).code).toBe('malformed-collateral');
        const r = rejection(() => parseCollateral('{"tcb_info": "{}"}'));
        expect(r.code).toBe('malformed-collateral');
        expect(r.message).toContain('qe_identity');
    });

    it('quote files may hold hex', () => {
        expect(decodeQuoteFile(Buffer.from(tdxQuote.toString('hex')))).toEqual(tdxQuote);
        expect(decodeQuoteFile(Buffer.from('0x' + tdxQuote.toString('hex') + '\n'))).toEqual(tdxQuote);
        expect(decodeQuoteFile(tdxQuote)).toEqual(tdxQuote);
    });
});

describe('TCB policy', () => {
    const base = verifyQuote(tdxQuote, tdxCollateral, TDX_TIME);
    const withStatus = (tcbStatus: VerifiedQuote['tcbStatus'], advisoryIds: string[]): VerifiedQuote => ({
        ...base,
        tcbStatus,
        advisoryIds,
    });

    it('accepts UpToDate by default and nothing else', () => {
        expect(() => applyTcbPolicy(withStatus('UpToDate', []), DEFAULT_TCB_POLICY)).not.toThrow();
        for (const s of ['OutOfDate', 'ConfigurationNeeded', 'Revoked', 'SWHardeningNeeded'] as const) {
            expect(rejection(() => applyTcbPolicy(withStatus(s, ['INTEL-SA-00001']), DEFAULT_TCB_POLICY)).code).toBe('tcb-rejected');
        }
    });

    it('accepts SWHardeningNeeded only when every advisory is allowlisted, naming the others', () => {
        const policy = { ...DEFAULT_TCB_POLICY, allowedAdvisories: ['INTEL-SA-00615'] };
        expect(() => applyTcbPolicy(withStatus('SWHardeningNeeded', ['INTEL-SA-00615']), policy)).not.toThrow();
        const r = rejection(() => applyTcbPolicy(withStatus('SWHardeningNeeded', ['INTEL-SA-00615', 'INTEL-SA-00289']), policy));
        expect(r.message).toContain('INTEL-SA-00289');
    });

    it('recognises debug enclaves', () => {
        expect(isDebugTd(Buffer.from('0100000000000000', 'hex'))).toBe(true);
        expect(isDebugTd(Buffer.from('0000001000000000', 'hex'))).toBe(false);
        expect(isDebugSgx(Buffer.from('0700000000000000', 'hex'))).toBe(true);
        expect(isDebugSgx(Buffer.from('0500000000000000', 'hex'))).toBe(false);
    });
});

describe('report_data binding', () => {
    const binding = {
        signingKey: Buffer.alloc(32, 1),
        encryptionKey: Buffer.alloc(32, 2),
        provider: new Address(0, Buffer.alloc(32, 3)),
        nonce: 42n,
    };

    it('is 64 bytes and changes with every bound field', () => {
        const base = expectedReportData(binding);
        expect(base.length).toBe(64);
        for (const change of [
            { signingKey: Buffer.alloc(32, 9) },
            { encryptionKey: Buffer.alloc(32, 9) },
            { provider: new Address(0, Buffer.alloc(32, 9)) },
            { provider: new Address(-1, Buffer.alloc(32, 3)) },
            { nonce: 43n },
        ]) {
            expect(expectedReportData({ ...binding, ...change }).equals(base)).toBe(false);
        }
    });
});
