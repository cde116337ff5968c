// Revocation, fail-closed. @phala/dcap-qvl skips a CRL it cannot parse and checks neither its
// signature nor its dates, so collateral with pck_crl "" passes there. Here both CRLs are parsed
// (@peculiar/x509), their signatures checked against their issuers, thisUpdate/nextUpdate against
// the verification time, and every certificate of the PCK, TCB info and QE identity chains against
// the CRL of the CA that issued it. Anything missing, unparseable or unverifiable rejects.
import './x509-chain'; // sets @peculiar/x509 up (reflect-metadata, node's WebCrypto)
import { X509Certificate as ParsedCertificate, X509Crl } from '@peculiar/x509';
import { X509Certificate, createHash } from 'crypto';
import { Collateral, constants, utils } from '@phala/dcap-qvl';
import { QuoteRejected } from './rejected';

interface VerifiedCrl {
    field: string; // where it came from in the collateral
    signer: X509Certificate; // the CA whose key verified its signature
    thisUpdate: number; // unix seconds
    nextUpdate: number;
    revokedSerials: Set<string>; // normalised, see serialKey
}

// Intel's root, the same trust anchor @phala/dcap-qvl verifies chains against.
const INTEL_ROOT = new X509Certificate(constants.TRUSTED_ROOT_CA_DER);

// Collateral changes once a day at most while quotes arrive all the time: a CRL's parse and
// signature check is kept by the hash of its bytes and its signer. Dates are checked on every use.
const crlCache = new Map<string, VerifiedCrl>();
const CRL_CACHE_LIMIT = 64;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const serialKey = (hex: string) => hex.toUpperCase().replace(/^0+(?=.)/, '');
const subjectOf = (c: X509Certificate) => c.subject.replace(/\n/g, ', ');

// A CRL in the collateral is hex-encoded DER (or an array of bytes), as PCCS serves it.
function crlBytes(field: string, encoded: unknown): Buffer {
    if (typeof encoded === 'string' && /^([0-9a-fA-F]{2})+$/.test(encoded)) return Buffer.from(encoded, 'hex');
    if (Array.isArray(encoded) && encoded.length > 0 && encoded.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
        return Buffer.from(encoded);
    }
    throw new QuoteRejected('malformed-collateral', `collateral ${field} is missing or not hex-encoded DER: revocation cannot be checked`);
}

// Both CRLs present and decodable: checked before anything else reads the collateral, so a
// missing one is reported as such (the library would stumble over it with a TypeError).
export function requireCrls(collateral: Pick<Collateral, 'root_ca_crl' | 'pck_crl'>) {
    crlBytes('root_ca_crl', collateral.root_ca_crl);
    crlBytes('pck_crl', collateral.pck_crl);
}

async function verifiedCrl(field: string, encoded: unknown, signer: X509Certificate): Promise<VerifiedCrl> {
    const der = crlBytes(field, encoded);
    const key = `${sha256(der)}:${sha256(signer.raw)}`;
    const cached = crlCache.get(key);
    if (cached) return cached;
    let crl: X509Crl;
    try {
        crl = new X509Crl(der);
    } catch (e) {
        throw new QuoteRejected('malformed-collateral', `collateral ${field} is not a CRL (${(e as Error).message})`);
    }
    const issuer = new ParsedCertificate(signer.raw);
    if (crl.issuer !== issuer.subject) {
        throw new QuoteRejected('invalid-collateral', `collateral ${field} is issued by "${crl.issuer}", expected "${issuer.subject}"`);
    }
    let signatureValid = false;
    try {
        signatureValid = await crl.verify({ publicKey: issuer });
    } catch {
        // an unsupported algorithm or a malformed signature is as bad as a wrong one
    }
    if (!signatureValid) {
        throw new QuoteRejected(
            'invalid-collateral',
            `collateral ${field}: its signature does not verify with the key of "${issuer.subject}"`,
        );
    }
    if (!crl.nextUpdate) throw new QuoteRejected('malformed-collateral', `collateral ${field} has no nextUpdate`);
    const verified: VerifiedCrl = {
        field,
        signer,
        thisUpdate: crl.thisUpdate.getTime() / 1000,
        nextUpdate: crl.nextUpdate.getTime() / 1000,
        revokedSerials: new Set(crl.entries.map((e) => serialKey(e.serialNumber))),
    };
    if (crlCache.size >= CRL_CACHE_LIMIT) crlCache.clear();
    crlCache.set(key, verified);
    return verified;
}

function certificates(what: string, pem: string | Uint8Array | undefined): X509Certificate[] {
    const ders = pem === undefined ? [] : utils.extractCerts(Buffer.from(pem));
    try {
        return ders.map((d) => new X509Certificate(d));
    } catch (e) {
        throw new QuoteRejected('malformed-collateral', `a certificate of the ${what} does not parse (${(e as Error).message})`);
    }
}

type RevocationCollateral = Pick<Collateral, 'root_ca_crl' | 'pck_crl' | 'tcb_info_issuer_chain' | 'qe_identity_issuer_chain'>;

interface Verdict {
    crls: VerifiedCrl[];
    problem?: QuoteRejected; // a revoked or uncovered certificate
}

// The same chains and CRLs give the same verdict whatever the time (dates are checked on every
// use): one platform's quotes arrive again and again with the same collateral.
const verdicts = new Map<string, Verdict>();
const VERDICT_CACHE_LIMIT = 256;

// `pckChain` is the PCK certificate chain @phala/dcap-qvl verified up to `root` (leaf first): the
// collateral's pck_certificate_chain when it has one, otherwise the quote's own. `root` is Intel's
// outside tests.
export async function checkRevocation(
    pckChain: string | Uint8Array,
    collateral: RevocationCollateral,
    nowSecs: number,
    root: X509Certificate = INTEL_ROOT,
): Promise<void> {
    const inputs = [root.fingerprint256, collateral.root_ca_crl, collateral.pck_crl, Buffer.from(pckChain).toString('latin1')];
    const key = sha256(Buffer.from(JSON.stringify([...inputs, collateral.tcb_info_issuer_chain, collateral.qe_identity_issuer_chain])));
    let verdict = verdicts.get(key);
    if (!verdict) {
        verdict = await judge(pckChain, collateral, root);
        if (verdicts.size >= VERDICT_CACHE_LIMIT) verdicts.clear();
        verdicts.set(key, verdict);
    }
    for (const crl of verdict.crls) {
        if (nowSecs < crl.thisUpdate) {
            throw new QuoteRejected(
                'collateral-not-yet-valid',
                `collateral ${crl.field} is valid from ${new Date(crl.thisUpdate * 1000).toISOString()}, after the verification time`,
            );
        }
        if (nowSecs > crl.nextUpdate) {
            throw new QuoteRejected(
                'collateral-expired',
                `collateral ${crl.field} expired at ${new Date(crl.nextUpdate * 1000).toISOString()}`,
            );
        }
    }
    if (verdict.problem) throw verdict.problem;
}

// Parses and verifies both CRLs (throwing when one is missing, malformed or not signed by its
// issuer) and finds, for every certificate, the CRL of its issuer and whether it lists it.
async function judge(pckChain: string | Uint8Array, collateral: RevocationCollateral, root: X509Certificate): Promise<Verdict> {
    const pck = certificates('PCK certificate chain', pckChain);
    if (pck.length < 2) throw new QuoteRejected('malformed-quote', 'the PCK certificate chain needs a leaf and its issuing CA');
    const crls = [await verifiedCrl('root_ca_crl', collateral.root_ca_crl, root), await verifiedCrl('pck_crl', collateral.pck_crl, pck[1])];
    const checked = [
        ...pck,
        ...certificates('tcb_info_issuer_chain', collateral.tcb_info_issuer_chain),
        ...certificates('qe_identity_issuer_chain', collateral.qe_identity_issuer_chain),
        root,
    ];
    for (const cert of checked) {
        const crl = crls.find((c) => cert.checkIssued(c.signer));
        if (!crl) {
            const problem = new QuoteRejected(
                'malformed-collateral',
                `no CRL in the collateral covers "${subjectOf(cert)}" (issued by "${cert.issuer.replace(/\n/g, ', ')}")`,
            );
            return { crls, problem };
        }
        if (crl.revokedSerials.has(serialKey(cert.serialNumber))) {
            const problem = new QuoteRejected(
                'certificate-revoked',
                `"${subjectOf(cert)}" (serial ${cert.serialNumber}) is revoked by ${crl.field}`,
            );
            return { crls, problem };
        }
    }
    return { crls };
}
