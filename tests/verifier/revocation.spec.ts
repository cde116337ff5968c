// Revocation fails closed: every CRL of the collateral is parsed, its signature and dates checked,
// and every certificate of the chains checked against it. On the real Intel collateral (tampered
// copies of it), and on a small CA made here, whose CRLs can revoke, expire and start in the future.
import 'reflect-metadata';
import { X509Certificate as NodeCertificate } from 'crypto';
import { webcrypto } from 'crypto';
import { BasicConstraintsExtension, X509Certificate, X509CertificateGenerator, X509CrlGenerator, cryptoProvider } from '@peculiar/x509';
import { QuoteRejected, verifyQuote } from '../../tee-verifier/src/quote';
import { checkRevocation } from '../../tee-verifier/src/revocation';
import { TDX_TIME, tdxCollateral, tdxQuote } from './fixtures';

cryptoProvider.set(webcrypto as unknown as Parameters<typeof cryptoProvider.set>[0]);
type Key = Parameters<typeof X509CrlGenerator.create>[0]['signingKey'];
type KeyPair = { publicKey: Key; privateKey: Key };

async function rejection(f: () => Promise<unknown>): Promise<QuoteRejected> {
    try {
        await f();
    } catch (e) {
        if (e instanceof QuoteRejected) return e;
        throw e;
    }
    throw new Error('expected a rejection, it was accepted');
}

describe('revocation on the Intel collateral', () => {
    it('the genuine CRLs pass', async () => {
        await expect(verifyQuote(tdxQuote, tdxCollateral, TDX_TIME)).resolves.toHaveProperty('tcbStatus', 'UpToDate');
    });

    it('a CRL that is missing, empty, not hex or not a CRL rejects the quote', async () => {
        for (const field of ['pck_crl', 'root_ca_crl'] as const) {
            for (const value of ['', 'zz', '00', '3000', undefined]) {
                const r = await rejection(() => verifyQuote(tdxQuote, { ...tdxCollateral, [field]: value as string }, TDX_TIME));
                expect([field, value, r.code]).toEqual([field, value, 'malformed-collateral']);
                expect(r.message).toContain(field);
            }
        }
    });

    it('a CRL whose signature does not verify, or signed by another CA, rejects the quote', async () => {
        const crl = Buffer.from(tdxCollateral.pck_crl as string, 'hex');
        crl[crl.length - 10] ^= 0x01; // inside the signature
        let r = await rejection(() => verifyQuote(tdxQuote, { ...tdxCollateral, pck_crl: crl.toString('hex') }, TDX_TIME));
        expect([r.code, r.message]).toEqual(['invalid-collateral', expect.stringContaining('signature does not verify')]);
        // the two CRLs swapped: each is issued by the wrong CA for its place
        r = await rejection(() =>
            verifyQuote(tdxQuote, { ...tdxCollateral, pck_crl: tdxCollateral.root_ca_crl, root_ca_crl: tdxCollateral.pck_crl }, TDX_TIME),
        );
        expect(r.code).toBe('invalid-collateral');
    });
});

// A root CA, an intermediate CA under it and a leaf under that, all ECDSA P-256, with CRLs that
// can say anything: what the real collateral cannot show (a revoked certificate, a CRL that starts
// in the future).
describe('revocation on a CA made here', () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const day = 86_400_000;
    const t0 = Date.UTC(2030, 0, 10);
    const now = t0 / 1000;
    let root: X509Certificate;
    let rootKeys: KeyPair;
    let ca: X509Certificate;
    let caKeys: KeyPair;
    let leaf: X509Certificate;
    let signer: X509Certificate; // a TCB-info signer under the root

    const keys = () => webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as Promise<KeyPair>;
    const cert = (subject: string, issuer: string, serial: string, publicKey: Key, signingKey: Key, isCa: boolean) =>
        X509CertificateGenerator.create({
            serialNumber: serial,
            subject,
            issuer,
            notBefore: new Date(t0 - 100 * day),
            notAfter: new Date(t0 + 100 * day),
            publicKey,
            signingKey,
            signingAlgorithm: alg,
            extensions: [new BasicConstraintsExtension(isCa, undefined, true)],
        });
    const crl = (issuer: X509Certificate, signingKey: Key, revoked: string[], from = t0 - day, until = t0 + day) =>
        X509CrlGenerator.create({
            issuer: issuer.subject,
            thisUpdate: new Date(from),
            nextUpdate: new Date(until),
            signingKey,
            signingAlgorithm: alg,
            entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: new Date(t0 - 2 * day) })),
        });
    const hex = async (c: Promise<{ rawData: ArrayBuffer }>) => Buffer.from((await c).rawData).toString('hex');

    beforeAll(async () => {
        rootKeys = await keys();
        caKeys = await keys();
        const leafKeys = await keys();
        const signerKeys = await keys();
        root = await cert('CN=Test Root', 'CN=Test Root', '01', rootKeys.publicKey, rootKeys.privateKey, true);
        ca = await cert('CN=Test Platform CA', 'CN=Test Root', '02', caKeys.publicKey, rootKeys.privateKey, true);
        leaf = await cert('CN=Test PCK', 'CN=Test Platform CA', '0a', leafKeys.publicKey, caKeys.privateKey, false);
        signer = await cert('CN=Test TCB Signing', 'CN=Test Root', '03', signerKeys.publicKey, rootKeys.privateKey, false);
    });

    const chain = () => [leaf, ca, root].map((c) => c.toString('pem')).join('\n');
    async function collateral(o: { rootRevokes?: string[]; caRevokes?: string[]; caCrlFrom?: number; caCrlUntil?: number } = {}) {
        return {
            root_ca_crl: await hex(crl(root, rootKeys.privateKey, o.rootRevokes ?? [])),
            pck_crl: await hex(crl(ca, caKeys.privateKey, o.caRevokes ?? [], o.caCrlFrom, o.caCrlUntil)),
            tcb_info_issuer_chain: [signer, root].map((c) => c.toString('pem')).join('\n'),
            qe_identity_issuer_chain: [signer, root].map((c) => c.toString('pem')).join('\n'),
        };
    }
    const check = async (c: Awaited<ReturnType<typeof collateral>>, at = now) =>
        checkRevocation(chain(), c, at, new NodeCertificate(Buffer.from(root.rawData)));

    it('nothing revoked, CRLs current: passes', async () => {
        await expect(check(await collateral())).resolves.toBeUndefined();
    });

    it('a revoked leaf, intermediate or collateral signer rejects, naming it', async () => {
        let r = await rejection(async () => check(await collateral({ caRevokes: ['0a'] })));
        expect([r.code, r.message]).toEqual(['certificate-revoked', expect.stringContaining('CN=Test PCK')]);
        r = await rejection(async () => check(await collateral({ rootRevokes: ['02'] })));
        expect([r.code, r.message]).toEqual(['certificate-revoked', expect.stringContaining('CN=Test Platform CA')]);
        r = await rejection(async () => check(await collateral({ rootRevokes: ['03'] })));
        expect([r.code, r.message]).toEqual(['certificate-revoked', expect.stringContaining('CN=Test TCB Signing')]);
    });

    it('a CRL checked outside its thisUpdate..nextUpdate window rejects', async () => {
        let r = await rejection(async () => check(await collateral({ caCrlFrom: t0 + day, caCrlUntil: t0 + 30 * day })));
        expect([r.code, r.message]).toEqual(['collateral-not-yet-valid', expect.stringContaining('pck_crl')]);
        r = await rejection(async () => check(await collateral(), now + 2 * 86_400));
        expect([r.code, r.message]).toEqual(['collateral-expired', expect.stringContaining('root_ca_crl')]);
    });

    it('a certificate no CRL covers rejects', async () => {
        const strangerKeys = await keys();
        const stranger = await cert('CN=Stranger', 'CN=Stranger', '09', strangerKeys.publicKey, strangerKeys.privateKey, true);
        const c = { ...(await collateral()), tcb_info_issuer_chain: stranger.toString('pem') };
        const r = await rejection(() => check(c));
        expect([r.code, r.message]).toEqual([
            'malformed-collateral',
            expect.stringContaining('no CRL in the collateral covers "CN=Stranger"'),
        ]);
    });
});
