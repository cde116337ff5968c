// Certificate chains checked with @peculiar/x509 against one pinned root: leaf first, each
// certificate named and signed by the next, the last one named and signed by the root (or the root
// itself, byte for byte), every issuer a CA, every certificate valid at the given time. Used for
// NVIDIA's device identity chains and RIM signing chains.
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import { BasicConstraintsExtension, PemConverter, X509Certificate, cryptoProvider } from '@peculiar/x509';
import { webcrypto } from 'crypto';

cryptoProvider.set(webcrypto as unknown as Parameters<typeof cryptoProvider.set>[0]);

export type ChainProblem = 'chain-malformed' | 'chain-incomplete' | 'chain-order' | 'chain-untrusted' | 'chain-expired';

export class ChainRejected extends Error {
    constructor(
        readonly problem: ChainProblem,
        message: string,
    ) {
        super(message);
        this.name = 'ChainRejected';
    }
}

export function parseCertificate(der: Uint8Array | ArrayBuffer): X509Certificate {
    try {
        return new X509Certificate(der);
    } catch (e) {
        throw new ChainRejected('chain-malformed', `a certificate does not parse (${(e as Error).message})`);
    }
}

// Every certificate of a PEM text, in order.
export function parsePemChain(pem: string): X509Certificate[] {
    let ders: ArrayBuffer[];
    try {
        ders = PemConverter.decode(pem);
    } catch (e) {
        throw new ChainRejected('chain-malformed', `the certificate chain is not PEM (${(e as Error).message})`);
    }
    if (ders.length === 0) throw new ChainRejected('chain-malformed', 'the certificate chain holds no certificate');
    return ders.map(parseCertificate);
}

const isCa = (c: X509Certificate) => c.getExtension(BasicConstraintsExtension)?.ca === true;

// Resolves when `chain` (leaf first) leads to `root` at time `at`; throws ChainRejected otherwise.
export async function verifyChain(chain: X509Certificate[], root: X509Certificate, at: Date): Promise<void> {
    if (chain.length === 0) throw new ChainRejected('chain-malformed', 'the certificate chain holds no certificate');
    const links = chain[chain.length - 1].equal(root) ? chain.slice(0, -1) : chain;
    for (const [i, cert] of links.entries()) {
        const issuer = i + 1 < links.length ? links[i + 1] : root;
        if (cert.issuer !== issuer.subject) {
            if (chain.some((c) => c.subject === cert.issuer)) {
                throw new ChainRejected(
                    'chain-order',
                    `"${cert.subject}" is followed by "${issuer.subject}", not by its issuer "${cert.issuer}"`,
                );
            }
            const missing = i + 1 < links.length ? 'is missing from the chain' : `is neither in the chain nor the root "${root.subject}"`;
            throw new ChainRejected('chain-incomplete', `the issuer of "${cert.subject}", "${cert.issuer}", ${missing}`);
        }
        if (!isCa(issuer)) throw new ChainRejected('chain-untrusted', `"${issuer.subject}" issued "${cert.subject}" but is not a CA`);
        let signed = false;
        try {
            signed = await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
        } catch {
            // an unsupported algorithm or malformed signature is as bad as a wrong one
        }
        if (!signed) {
            const by = issuer === root ? `the pinned root "${root.subject}"` : `"${issuer.subject}"`;
            throw new ChainRejected('chain-untrusted', `the signature on "${cert.subject}" does not verify with the key of ${by}`);
        }
    }
    for (const cert of [...links, root]) {
        if (at < cert.notBefore || at > cert.notAfter) {
            throw new ChainRejected(
                'chain-expired',
                `"${cert.subject}" is valid from ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}, not at ${at.toISOString()}`,
            );
        }
    }
}
