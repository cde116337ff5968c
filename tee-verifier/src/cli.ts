#!/usr/bin/env node
// `npm run verifier -- <command>`: the tee-verifier's command line. Every outcome of a command is
// one JSON object on stdout: {accepted: true, ...} and exit 0, or {accepted: false, code, message, ...}
// and exit 2 (rejected), 64 (usage error) or 1 (internal error); a refusal's one-line reason also goes
// to stderr.
import { Command, CommanderError, Option } from 'commander';
import { readFileSync, statSync } from 'fs';
import { TcbStatus } from '@phala/dcap-qvl';
import { NotHex, decodeHexOrBinary } from './bytes';
import { GpuEvidenceRejected, gpuSetDigest, nvidiaRoots, verifyGpuEvidence } from './nvidia';
import { ENDPOINT_HELP, UsageError, positiveInt } from '../../protocol/cli';
import { MAX_GPU_REPORT_BYTES, MAX_QUOTE_BYTES, NO_GPU_EVIDENCE, tdxMeasurement } from '../../protocol/evidence';
import { DEFAULT_TCB_POLICY, QuoteRejected, VerifiedQuote, applyTcbPolicy, decodeQuoteFile, inspectQuote, parseCollateral } from './quote';

const hex = (b: Buffer) => b.toString('hex');

export const EXIT = { accepted: 0, internal: 1, rejected: 2, usage: 64 } as const;

// A verification that said no, with what it could still report (the quote's registers when only
// the TCB policy refused it, say).
class Rejection extends Error {
    constructor(
        readonly code: string,
        message: string,
        readonly details: Record<string, unknown> = {},
    ) {
        super(message);
    }
}

// `o`: the worker's GPU evidence digest and model hash, folded into a TDX measurement as the
// verifier does (protocol/evidence.ts); zeros when not given.
export function quoteSummary(q: VerifiedQuote, o: { gpuDigest?: Buffer; modelHash?: Buffer } = {}) {
    const registers = q.tdx && { mrTd: q.tdx.mrTd, rtMr0: q.tdx.rtMr0, rtMr1: q.tdx.rtMr1, rtMr2: q.tdx.rtMr2, rtMr3: q.tdx.rtMr3 };
    const measurement = registers
        ? tdxMeasurement(registers, o.gpuDigest ?? NO_GPU_EVIDENCE, o.modelHash ?? NO_GPU_EVIDENCE)
        : q.measurement;
    return {
        teeType: q.teeType,
        quoteVersion: q.quoteVersion,
        tcbStatus: q.tcbStatus,
        advisoryIds: q.advisoryIds,
        ...(q.tdx
            ? { mrtd: hex(q.tdx.mrTd), rtmr0: hex(q.tdx.rtMr0), rtmr1: hex(q.tdx.rtMr1), rtmr2: hex(q.tdx.rtMr2), rtmr3: hex(q.tdx.rtMr3) }
            : { mrenclave: hex(q.sgx!.mrEnclave), mrsigner: hex(q.sgx!.mrSigner) }),
        reportData: hex(q.reportData),
        measurement: hex(measurement),
        // what the measurement folds in: without --model-hash it is no worker's (governance
        // allowlists (image, GPUs, model) configurations)
        gpuDigest: hex(o.gpuDigest ?? NO_GPU_EVIDENCE),
        modelHash: o.modelHash ? hex(o.modelHash) : null,
    };
}

// Reads a file the user named, refusing one larger than `maxBytes` before reading it.
function readFile(path: string, what: string, maxBytes = 16 * 1024 * 1024): Buffer {
    try {
        const size = statSync(path).size;
        if (size > maxBytes) throw new Rejection('input-too-large', `the ${what} file ${path} is ${size} bytes, more than ${maxBytes}`);
        return readFileSync(path);
    } catch (e) {
        if (e instanceof Rejection) throw e;
        throw new UsageError(`cannot read the ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
}

const unixTime = (flag: string) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number of seconds, got ${v}`);
    return n;
};

const hex32 = (flag: string) => (v: string) => {
    if (!/^[0-9a-fA-F]{64}$/.test(v)) throw new UsageError(`${flag} must be 64 hex digits, got ${v}`);
    return Buffer.from(v, 'hex');
};

const TCB_STATUSES: TcbStatus[] = [
    'UpToDate',
    'SWHardeningNeeded',
    'ConfigurationNeeded',
    'ConfigurationAndSWHardeningNeeded',
    'OutOfDate',
    'OutOfDateConfigurationNeeded',
];

const program = new Command('cocoon-verifier').description(
    'Cocoon TEE verifier: checks Intel DCAP quotes and NVIDIA GPU evidence, and signs attestation proofs',
);
program.exitOverride(); // before the commands, which inherit it: errors reach the handler at the end

program
    .command('verify-quote')
    .description('verify a TDX or SGX quote against its collateral and the TCB policy; print what it attests as JSON')
    .requiredOption('--quote <file>', 'the quote, raw bytes or hex; exactly one quote, no trailing bytes')
    .requiredOption('--collateral <file>', 'its collateral, as JSON (PCK CRL and chain, root CA CRL, TCB info, QE identity)')
    .option('--now <unix>', 'verify at this time (seconds) instead of the clock; collateral expires', unixTime('--now'))
    .option('--allow-advisory <id...>', 'accept SWHardeningNeeded when it names advisories and every one is listed here', [])
    .addOption(
        new Option('--accept-status <status...>', 'TCB statuses accepted outright, whatever their advisories (Revoked never is)')
            .choices(TCB_STATUSES)
            .default(DEFAULT_TCB_POLICY.acceptedStatuses),
    )
    .option(
        '--gpu-digest <hex>',
        "the worker's GPU evidence digest, folded into the measurement (verify-gpu prints it)",
        hex32('--gpu-digest'),
    )
    .option(
        '--model-hash <hex>',
        'the model the worker serves (npm run worker -- model-hash DIR), folded into the measurement',
        hex32('--model-hash'),
    )
    .action(
        async (opts: {
            quote: string;
            collateral: string;
            now?: number;
            allowAdvisory: string[];
            acceptStatus: TcbStatus[];
            gpuDigest?: Buffer;
            modelHash?: Buffer;
        }) => {
            const quote = decodeQuoteFile(readFile(opts.quote, 'quote', 3 * MAX_QUOTE_BYTES));
            const collateral = parseCollateral(readFile(opts.collateral, 'collateral', 1024 * 1024).toString('utf8'));
            const verified = await inspectQuote(quote, collateral, opts.now ?? Math.floor(Date.now() / 1000));
            const summary = quoteSummary(verified, opts);
            try {
                applyTcbPolicy(verified, { allowedAdvisories: opts.allowAdvisory, acceptedStatuses: opts.acceptStatus });
            } catch (e) {
                const r = e as QuoteRejected;
                throw new Rejection(r.code, r.message, summary);
            }
            console.log(JSON.stringify({ ...summary, accepted: true }, null, 2));
        },
    );

program
    .command('verify-gpu')
    .description(
        "verify NVIDIA GPU evidence (SPDM measurements, device chain, RIMs) against NVIDIA's pinned roots; print the outcome as JSON",
    )
    .requiredOption('--report <file>', 'the SPDM GET_MEASUREMENTS request and signed response, raw bytes or hex')
    .requiredOption('--chain <file>', "the GPU's attestation key certificate chain, PEM, leaf first")
    .requiredOption('--rim <file...>', "reference integrity manifests (signed XML): the driver's and the VBIOS's")
    .requiredOption('--nonce <hex>', 'the 32-byte nonce the request must carry', (v) => {
        if (!/^(0x)?[0-9a-fA-F]{64}$/.test(v)) throw new UsageError(`--nonce must be 32 bytes in hex, got ${v}`);
        return Buffer.from(v.replace(/^0x/, ''), 'hex');
    })
    .option('--offline-revocation', 'accept without OCSP revocation checks (they need the network); without it evidence is refused', false)
    .option('--now <unix>', 'verify at this time (seconds) instead of the clock; RIM signing chains expire', unixTime('--now'))
    .action(async (opts: { report: string; chain: string; rim: string[]; nonce: Buffer; offlineRevocation: boolean; now?: number }) => {
        let report: Buffer;
        try {
            report = decodeHexOrBinary(readFile(opts.report, 'report', 3 * MAX_GPU_REPORT_BYTES), 'report file');
        } catch (e) {
            if (e instanceof NotHex) throw new GpuEvidenceRejected('malformed-report', e.message);
            throw e;
        }
        const certChain = readFile(opts.chain, 'chain', 64 * 1024).toString('utf8');
        const rims = opts.rim.map((f) => readFile(f, 'RIM', 1024 * 1024).toString('utf8'));
        const trust = { ...nvidiaRoots(), rims, revocation: opts.offlineRevocation ? ('offline' as const) : ('required' as const) };
        const at = new Date((opts.now ?? Math.floor(Date.now() / 1000)) * 1000);
        const v = await verifyGpuEvidence({ report, certChain }, opts.nonce, trust, at);
        const outcome = {
            accepted: true,
            code: 'accepted',
            message: `the GPU evidence verifies: ${v.measurementsChecked} measurements match the RIMs; OCSP revocation not checked (offline policy)`,
            driverVersion: v.driverVersion,
            vbiosVersion: v.vbiosVersion,
            measurementsChecked: v.measurementsChecked,
            gpuDigest: hex(v.digest), // this GPU's
            gpuEvidenceDigest: hex(gpuSetDigest([v.digest])), // what the measurement of a worker with this one GPU includes
        };
        console.log(JSON.stringify(outcome, null, 2));
    });

program
    .command('serve')
    .description('run the verifier service (HTTP API, durable outbox, on-chain submission)')
    .requiredOption('--root <address>', 'Root contract address (reads its measurement allowlist)')
    .addOption(new Option('--network <name>', 'network the Root is on').choices(['mainnet', 'testnet']).default('testnet'))
    .option('--endpoint <url...>', ENDPOINT_HELP, ['https://testnet.toncenter.com/api/v2/jsonRPC'])
    .option('--api-key-env <name>', 'environment variable holding the API key of a single --endpoint', 'TONCENTER_API_KEY')
    .option('--key-file <file>', 'file holding the verifier ed25519 seed (64 hex characters)')
    .option('--key-env <name>', 'environment variable holding the verifier ed25519 seed', 'COCOON_VERIFIER_KEY')
    .option(
        '--wallet-mnemonic-env <name>',
        'environment variable holding the 24-word mnemonic of the wallet that submits proofs; without it proofs are only returned',
        'COCOON_VERIFIER_MNEMONIC',
    )
    .option('--db <file>', 'SQLite file for nonces, the audit log and the outbox', 'verifier.sqlite')
    .option('--collateral <file>', 'offline mode: verify every quote against this collateral JSON')
    .option('--pccs <url>', 'fetch collateral from this PCCS (cached on disk)')
    .option('--collateral-cache <dir>', 'where PCCS collateral is cached', 'collateral-cache')
    .option('--peer <url...>', 'verifiers to ask for co-signatures', [])
    .option('--threshold <n>', "signatures a proof needs, own included (Root's threshold)", (v) => positiveInt('--threshold', v), 1)
    .option('--validity <seconds>', "proof validity, at most Root's attestationMaxAge", (v) => positiveInt('--validity', v), 6 * 3600)
    .option('--allow-advisory <id...>', 'accept SWHardeningNeeded when every advisory is listed here', [])
    .option('--gpu-rim <file...>', "RIMs (signed XML, driver and VBIOS) that workers' NVIDIA GPU evidence is checked against", [])
    .option('--no-gpu', 'attest workers without GPU evidence (the measurement then carries no GPU digest)')
    .option('--gpu-offline-revocation', 'accept GPU evidence without OCSP revocation checks (they need the network)', false)
    .option('--dev', 'development mode, testnet only: accept simulated TEE evidence; GPU evidence optional', false)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v) => positiveInt('--port', v), 8480)
    .option('--rate-limit <n>', 'requests a minute per client', (v) => positiveInt('--rate-limit', v), 120)
    .option(
        '--sealing-secret-file <file>',
        "release sealing shares to workers' TDs (POST /v1/sealing-share), derived from this secret (32+ bytes, mode 600) and each TD's measurement",
    )
    .action(async (opts) => {
        const { runService } = await import('./service');
        await runService(opts);
    });

program.parseAsync(process.argv).catch((e) => {
    const report = (exitCode: number, code: string, message: string, details: Record<string, unknown> = {}) => {
        console.log(JSON.stringify({ ...details, accepted: false, code, message }, null, 2));
        process.exit(exitCode);
    };
    if (e instanceof Rejection || e instanceof QuoteRejected || e instanceof GpuEvidenceRejected) {
        console.error(`rejected (${e.code}): ${e.message}`);
        return report(EXIT.rejected, e.code, e.message, e instanceof QuoteRejected ? {} : e.details);
    }
    if (e instanceof CommanderError) {
        // commander has printed its message (or the help) already
        if (['commander.helpDisplayed', 'commander.version'].includes(e.code)) process.exit(EXIT.accepted);
        return report(EXIT.usage, 'usage', e.message.replace(/^error: /, ''));
    }
    if (e instanceof UsageError || (e instanceof Error && /key file|environment variable|signing key/.test(e.message))) {
        console.error(`error: ${e.message}`);
        return report(EXIT.usage, 'usage', e.message);
    }
    console.error(`error: ${(e as Error).message}`);
    report(EXIT.internal, 'internal-error', (e as Error).message);
});
