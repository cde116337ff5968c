// NVIDIA GPU evidence for tests (data/nvidia/, NVIDIA's nvtrust samples, Apache License 2.0), and
// device chains made here, for reports that must carry a nonce the real ones cannot.
import 'reflect-metadata';
import { createPrivateKey, sign, webcrypto } from 'crypto';
import { readFileSync } from 'fs';
import { join } from 'path';
import { BasicConstraintsExtension, X509Certificate, X509CertificateGenerator } from '@peculiar/x509';
import { GpuEvidence } from '../../protocol/evidence';
import { GpuTrust, nvidiaRoots } from '../../tee-verifier/src/nvidia';
import { parsePemChain } from '../../tee-verifier/src/x509-chain';

export const NVIDIA = join(__dirname, 'data', 'nvidia');
export const GPU_TIME_SECONDS = 1_717_200_000; // inside the RIMs' signing chain validity
const text = (name: string) => readFileSync(join(NVIDIA, name), 'utf8');

// Certificates with the subjects and issuers of `like` (leaf first), made here with P-384 keys: the
// last one self-signed. signReport replaces a report's signature with one by the leaf's key.
export async function selfMadeChain(like: X509Certificate[]) {
    const alg = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    const keys = [];
    for (let i = 0; i < like.length; i++) keys.push(await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']));
    const chain: X509Certificate[] = [];
    for (let i = like.length - 1; i >= 0; i--) {
        const signer = i === like.length - 1 ? keys[i] : keys[i + 1];
        chain.unshift(
            await X509CertificateGenerator.create({
                serialNumber: `0${i + 1}`,
                subject: like[i].subject,
                issuer: like[i].issuer,
                notBefore: new Date(Date.UTC(2020, 0, 1)),
                notAfter: new Date(Date.UTC(2099, 0, 1)),
                publicKey: keys[i].publicKey as never,
                signingKey: signer.privateKey as never,
                signingAlgorithm: alg,
                extensions: [new BasicConstraintsExtension(i > 0, undefined, true)],
            }),
        );
    }
    const leafKey = createPrivateKey({
        key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys[0].privateKey)),
        format: 'der',
        type: 'pkcs8',
    });
    const signReport = (r: Buffer) => {
        const signed = r.subarray(0, r.length - 96);
        return Buffer.concat([signed, sign('sha384', signed, { key: leafKey, dsaEncoding: 'ieee-p1363' })]);
    };
    return { chain, signReport };
}

// A trust whose device root is made here, the genuine RIMs, offline revocation; evidenceFor gives
// the genuine report (so every measurement matches the RIMs) asking `nonce`, signed by a device key
// under that root.
export async function gpuFixtureTrust(): Promise<{ trust: GpuTrust; evidenceFor: (nonce: Buffer) => GpuEvidence }> {
    const { chain, signReport } = await selfMadeChain(parsePemChain(text('gpuAkCertChain.txt')));
    const report = Buffer.from(text('attestationReport.txt').trim(), 'hex');
    const trust: GpuTrust = {
        ...nvidiaRoots(),
        deviceRoot: chain[chain.length - 1],
        rims: [text('Driver_RIM_test_no_gpu.swidtag'), text('1010_0200_882_96005E0001_test_no_gpu.swidtag')],
        revocation: 'offline',
    };
    const certChain = chain.map((c) => c.toString('pem')).join('\n');
    return {
        trust,
        evidenceFor: (nonce) => {
            const asked = Buffer.from(report);
            nonce.copy(asked, 4); // the request's nonce field
            return { report: signReport(asked), certChain };
        },
    };
}
