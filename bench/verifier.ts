// `npm run bench:verifier`: DCAP quote verifications per second on one core (this process is
// single-threaded) for the fixtures, against the raw @phala/dcap-qvl library in the same run;
// NVIDIA GPU report verifications per second (the genuine H100 fixture: device chain, signature,
// nonce, 33 golden values; RIMs verified once, as a running verifier does); and the latency of the
// HTTP attest call end to end (nonce, then attest with simulated evidence; Root's allowlist read
// from the sandbox chain).
import { readFileSync } from 'fs';
import { join } from 'path';
import { performance } from 'perf_hooks';
import { toNano } from '@ton/core';
import { GLOBAL_ID_TESTNET } from '../wrappers';
import { Quote, verify } from '@phala/dcap-qvl';
import { Attestor, simulatedMeasurement } from '../tee-verifier/src/attest';
import { NO_GPU_EVIDENCE } from '../protocol/evidence';
import { encodeAttestationRequest } from '../protocol/verifier-api';
import { DEFAULT_TCB_POLICY, inspectQuote, parseCollateral } from '../tee-verifier/src/quote';
import { buildVerifierServer } from '../tee-verifier/src/server';
import { nvidiaRoots, verifyGpuEvidence } from '../tee-verifier/src/nvidia';
import { VerifierStore } from '../tee-verifier/src/store';
import {
    MODEL_HASH,
    START_TIME,
    TEST_PARAMS,
    deployProtocol,
    key256,
    makeEnclave,
    registerProvider,
    simulatedAttestation,
} from '../testkit';

const FIXTURES = join(__dirname, '..', 'tests', 'verifier', 'data');

// Our verification (exact length, @phala/dcap-qvl, fail-closed revocation, debug check) against the
// raw library on the same quote, interleaved in rounds so that both see the same machine load.
async function quotesPerSecond(kind: 'tdx' | 'sgx', runs: number) {
    const file = readFileSync(join(FIXTURES, `${kind}_quote`));
    const signed = Quote.parse(file).signedLength();
    const quote = file.subarray(0, signed + 4 + file.readUInt32LE(signed)); // the TDX file carries zero padding
    const collateral = parseCollateral(readFileSync(join(FIXTURES, `${kind}_quote_collateral.json`), 'utf8'));
    const at = Date.parse(JSON.parse(collateral.tcb_info).issueDate) / 1000 + 3600;
    await inspectQuote(quote, collateral, at); // warm up
    verify(quote, collateral, at);
    let ours = 0;
    let raw = 0;
    for (let round = 0; round < 10; round++) {
        let start = performance.now();
        for (let i = 0; i < runs / 10; i++) await inspectQuote(quote, collateral, at);
        ours += performance.now() - start;
        start = performance.now();
        for (let i = 0; i < runs / 10; i++) verify(quote, collateral, at);
        raw += performance.now() - start;
    }
    return { runs, perSecond: (runs * 1000) / ours, msEach: ours / runs, rawPerSecond: (runs * 1000) / raw, ratio: ours / raw };
}

async function gpuReportsPerSecond(runs: number) {
    const dir = join(FIXTURES, 'nvidia');
    const text = (name: string) => readFileSync(join(dir, name), 'utf8');
    const report = Buffer.from(text('attestationReport.txt').trim(), 'hex');
    const certChain = text('gpuAkCertChain.txt');
    const rims = [text('Driver_RIM_test_no_gpu.swidtag'), text('1010_0200_882_96005E0001_test_no_gpu.swidtag')];
    const trust = { ...nvidiaRoots(), rims, revocation: 'offline' as const };
    const at = new Date(1_717_200_000 * 1000); // inside the RIMs' signing chain validity
    const nonce = report.subarray(4, 36);
    let start = performance.now();
    await verifyGpuEvidence({ report, certChain }, nonce, trust, at); // verifies and caches the RIMs
    const firstMs = performance.now() - start;
    start = performance.now();
    for (let i = 0; i < runs; i++) await verifyGpuEvidence({ report, certChain }, nonce, trust, at);
    const ms = performance.now() - start;
    return { runs, perSecond: (runs * 1000) / ms, msEach: ms / runs, firstMs };
}

async function attestLatency(calls: number) {
    const p = await deployProtocol(TEST_PARAMS, START_TIME, GLOBAL_ID_TESTNET); // simulated evidence counts on testnet only
    await p.root.send(
        p.governance.getSender(),
        { value: toNano('0.05') },
        { $$type: 'AllowMeasurement', queryId: 0n, measurement: key256(simulatedMeasurement(NO_GPU_EVIDENCE, MODEL_HASH)) },
    );
    const reg = await registerProvider(p);
    const store = new VerifierStore(':memory:');
    const attestor = new Attestor({
        store,
        key: p.verifiers[0],
        root: p.root.address,
        globalId: p.globalId,
        allowlist: { isAllowed: async (m) => p.root.getIsMeasurementAllowed(key256(m)) },
        collateral: { collateralFor: async () => Promise.reject(new Error('not used')) },
        policy: DEFAULT_TCB_POLICY,
        validitySeconds: 3600,
        nonceTtlSeconds: 600,
        devMode: true,
        now: () => p.blockchain.now!,
        peers: [],
        threshold: 1,
    });
    const app = await buildVerifierServer({ attestor, store, devMode: true, rateLimitPerMinute: 100_000 });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const enclave = makeEnclave('bench');
    const post = async (url: string, body: unknown) => {
        const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
        return r.json() as Promise<{ nonce: string }>;
    };
    const times: number[] = [];
    for (let i = 0; i < calls; i++) {
        const nonce = BigInt((await post('/v1/nonce', { provider: reg.provider.address.toString() })).nonce);
        const binding = {
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            provider: reg.provider.address,
            nonce,
            modelHash: MODEL_HASH,
        };
        const body = encodeAttestationRequest(simulatedAttestation(binding));
        const start = performance.now();
        await post('/v1/attest', body);
        times.push(performance.now() - start);
    }
    await app.close();
    store.close();
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    return { calls, p50: at(0.5), p95: at(0.95), max: times[times.length - 1] };
}

async function main() {
    console.log('measuring quote verification (one core)…');
    const tdx = await quotesPerSecond('tdx', 200);
    const sgx = await quotesPerSecond('sgx', 200);
    const row = (quote: string, r: typeof tdx) => ({
        quote,
        runs: r.runs,
        'verifications/s': r.perSecond.toFixed(1),
        'ms each': r.msEach.toFixed(2),
        'raw library /s': r.rawPerSecond.toFixed(1),
        'time vs raw': `${r.ratio.toFixed(2)}x`,
    });
    console.table([row('TDX v4 (fixture)', tdx), row('SGX v3 (fixture)', sgx)]);
    console.log('measuring NVIDIA GPU report verification (one core)…');
    const gpu = await gpuReportsPerSecond(200);
    console.table([
        {
            report: 'H100 (fixture)',
            runs: gpu.runs,
            'verifications/s': gpu.perSecond.toFixed(1),
            'ms each': gpu.msEach.toFixed(2),
            'first, with both RIMs ms': gpu.firstMs.toFixed(1),
        },
    ]);
    console.log('measuring POST /v1/attest over loopback HTTP (simulated evidence, allowlist read from the sandbox)…');
    const l = await attestLatency(200);
    console.table([{ calls: l.calls, 'p50 ms': l.p50.toFixed(2), 'p95 ms': l.p95.toFixed(2), 'max ms': l.max.toFixed(2) }]);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
