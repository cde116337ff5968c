// What the worker proves, and where its model may run (issue 13, "What the worker runs"): TDX
// evidence through configfs-tsm or simulated under --dev; GPU evidence through NVIDIA's
// Attestation CLI (nvattest), read from its JSON and bound to the attestation's GPU nonce, tested
// with the real H100 report of ../shared/fixtures/nvidia (copied under tests/verifier/data/nvidia,
// Apache-2.0, see its README); and a backend that must be inside the TD outside --dev.
import type { ChatCompletion } from '../../protocol/worker-api';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { createServer } from 'http';
import { AddressInfo } from 'net';
import { EvidenceUnavailable, collectEvidence, teeKind } from '../../worker/src/evidence';
import { NVATTEST_COMMAND, collectGpuEvidence, parseNvattestOutput } from '../../worker/src/gpu-evidence';
import { BackendRefused, isInsideTd, parseBackendTarget, requireBackendInsideTd } from '../../worker/src/backend-target';
import { MAX_GPUS, MAX_GPU_REPORT_BYTES, expectedGpuNonce, expectedReportData } from '../../protocol/evidence';
import { BackendUnavailable, openAiBackend } from '../../worker/src/backend';
import { startEchoBackend } from '../../worker/src/echo-backend';
import { attestRequestSchema, encodeAttestationRequest } from '../../protocol/verifier-api';
import { tempDir } from '../tmp';
import { EXAMPLE_BINDING } from '../../testkit';

const DATA = join(__dirname, '..', 'verifier', 'data', 'nvidia');
const REPORT = Buffer.from(readFileSync(join(DATA, 'attestationReport.txt'), 'utf8').trim(), 'hex');
const CHAIN = readFileSync(join(DATA, 'gpuAkCertChain.txt'), 'utf8');
const FIXTURE_NONCE = Buffer.from('4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e', 'hex');

// nvattest's output for these reports, as `nvattest collect-evidence --format json` prints it.
function nvattestJson(reports: Buffer[] = [REPORT], extra: Record<string, unknown> = {}) {
    return JSON.stringify({
        evidences: reports.map((r) => ({
            version: '1.0',
            arch: 'HOPPER',
            nonce: r.subarray(4, 36).toString('hex'),
            driver_version: '545.00',
            vbios_version: '96.00.5E.00.01',
            evidence: r.toString('base64'),
            certificate: Buffer.from(CHAIN).toString('base64'),
        })),
        result_code: 0,
        result_message: 'Ok',
        ...extra,
    });
}

const binding = EXAMPLE_BINDING;

describe('TDX evidence', () => {
    it('uses simulated evidence only when allowed, and names what is missing otherwise', async () => {
        const missing = join(tempDir('tsm'), 'nope');
        expect(teeKind({ tsmDir: missing, allowSimulated: true })).toBe('simulated');
        expect(() => teeKind({ tsmDir: missing, allowSimulated: false })).toThrow(EvidenceUnavailable);
        expect(() => teeKind({ tsmDir: missing, allowSimulated: false })).toThrow(/no TDX quote interface at .*nope.*--dev/);
        await expect(collectEvidence(binding, { tsmDir: missing, allowSimulated: true })).resolves.toEqual({
            kind: 'simulated',
            reportData: expectedReportData(binding),
        });
    });

    it('reports a configfs-tsm that yields no quote, naming the quoting service', async () => {
        const dir = join(tempDir('tsm'), 'report');
        mkdirSync(dir);
        await expect(collectEvidence(binding, { tsmDir: dir, allowSimulated: true })).rejects.toThrow(/TDX quoting service/);
    });
});

describe('GPU evidence (nvattest)', () => {
    it("reads NVIDIA's real H100 report and chain from nvattest's JSON", () => {
        expect(parseNvattestOutput(nvattestJson(), FIXTURE_NONCE)).toEqual([{ report: REPORT, certChain: CHAIN }]);
    });

    it("asks for the attestation's GPU nonce, bound to the same keys, provider and verifier nonce as report_data", async () => {
        const asked: Buffer[] = [];
        const evidence = await collectEvidence(binding, {
            tsmDir: join(tempDir('tsm'), 'none'),
            allowSimulated: true,
            gpu: async (nonce) => {
                asked.push(nonce);
                return [{ report: REPORT, certChain: CHAIN }];
            },
        });
        expect(asked).toEqual([expectedGpuNonce(binding)]);
        expect(evidence).toEqual({
            kind: 'simulated',
            reportData: expectedReportData(binding),
            gpu: [{ report: REPORT, certChain: CHAIN }],
        });
        // another verifier nonce, another GPU nonce
        expect(expectedGpuNonce({ ...binding, nonce: 43n })).not.toEqual(expectedGpuNonce(binding));
    });

    it("travels to the verifier with either kind of evidence (the verifier's API keeps it)", () => {
        for (const evidence of [
            { kind: 'simulated' as const, reportData: expectedReportData(binding), gpu: [{ report: REPORT, certChain: CHAIN }] },
            { kind: 'tdx' as const, quote: Buffer.alloc(100, 9), gpu: [{ report: REPORT, certChain: CHAIN }] },
        ]) {
            const request = { ...binding, evidence };
            const parsed = attestRequestSchema.parse(JSON.parse(JSON.stringify(encodeAttestationRequest(request))));
            expect(parsed.evidence.gpu).toEqual([{ report: REPORT, certChain: CHAIN }]);
        }
    });

    it('refuses a report that answers another nonce (a report lifted from another attestation)', () => {
        expect(() => parseNvattestOutput(nvattestJson(), expectedGpuNonce(binding))).toThrow(/another nonce/);
    });

    it.each([
        ['not JSON', 'Collected evidence for 1 GPU', /printed no JSON/],
        [
            'a failure result code',
            nvattestJson([], { result_code: 7, result_message: 'GPU not in CC mode' }),
            /GPU not in CC mode \(result code 7\)/,
        ],
        ['no GPU', nvattestJson([]), /no GPU in confidential-computing mode/],
        ['too many GPUs', nvattestJson(Array(MAX_GPUS + 1).fill(REPORT)), /at most 8/],
        ['the same GPU twice', nvattestJson([REPORT, REPORT]), /the same GPU as an earlier entry/],
        [
            'a report over the size limit',
            nvattestJson([Buffer.concat([REPORT, Buffer.alloc(MAX_GPU_REPORT_BYTES + 1 - REPORT.length)])]),
            /not an SPDM report of at most/,
        ],
        ['evidence that is not base64', nvattestJson().replace(/"evidence":"/, '"evidence":"%%'), /not base64/],
        [
            'evidence that is no SPDM request',
            nvattestJson([Buffer.concat([Buffer.from([0x10]), REPORT.subarray(1)])]),
            /SPDM 1.1 GET_MEASUREMENTS/,
        ],
        ['a truncated report', nvattestJson([REPORT.subarray(0, 20)]), /not an SPDM report/],
        ['no certificate', nvattestJson().replace(/"certificate":"[^"]*"/, '"certificate":"aGVsbG8="'), /no PEM certificate chain/],
        ['another format', JSON.stringify({ evidence_list: [] }), /not the evidence format/],
    ])('refuses %s, saying what is wrong', (_what, output, message) => {
        expect(() => parseNvattestOutput(output, FIXTURE_NONCE)).toThrow(EvidenceUnavailable);
        expect(() => parseNvattestOutput(output, FIXTURE_NONCE)).toThrow(message);
    });

    // A stand-in nvattest: a node script with this body.
    function fakeNvattest(body: string) {
        const fake = join(tempDir('nvattest'), 'nvattest');
        writeFileSync(fake, `#!/usr/bin/env node\n${body}\n`);
        chmodSync(fake, 0o755);
        return fake;
    }

    it('runs the CLI with the nonce and reads what it prints', async () => {
        const dir = tempDir('nvattest');
        const fake = join(dir, 'nvattest');
        const out = join(dir, 'output.json');
        const args = join(dir, 'args.txt');
        writeFileSync(out, nvattestJson());
        writeFileSync(
            fake,
            `#!/usr/bin/env node\nrequire('fs').writeFileSync(${JSON.stringify(args)}, process.argv.slice(2).join(' '));\nprocess.stdout.write(require('fs').readFileSync(${JSON.stringify(out)}, 'utf8'));\n`,
        );
        chmodSync(fake, 0o755);
        await expect(collectGpuEvidence(FIXTURE_NONCE, [fake, ...NVATTEST_COMMAND.slice(1)])).resolves.toEqual([
            { report: REPORT, certChain: CHAIN },
        ]);
        expect(readFileSync(args, 'utf8')).toBe(`collect-evidence --device gpu --format json --nonce ${FIXTURE_NONCE.toString('hex')}`);
    });

    it('names the missing tool, and a tool that fails without output', async () => {
        await expect(collectGpuEvidence(FIXTURE_NONCE, [join(tempDir('nvattest'), 'absent')])).rejects.toThrow(
            /was not found: install NVIDIA's Attestation CLI/,
        );
        const failing = fakeNvattest("process.stderr.write('NVML: GPU is lost\\n'); process.exit(3);");
        await expect(collectGpuEvidence(FIXTURE_NONCE, [failing])).rejects.toThrow(/exited with status 3: NVML: GPU is lost/);
    });

    it('stops a tool that hangs and ignores SIGTERM, without blocking the worker meanwhile', async () => {
        const stuck = fakeNvattest("process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);");
        let ticks = 0;
        const ticking = setInterval(() => (ticks += 1), 50);
        const started = Date.now();
        await expect(collectGpuEvidence(FIXTURE_NONCE, [stuck], 1000)).rejects.toThrow(/gave no answer within 1000 ms/);
        clearInterval(ticking);
        expect(Date.now() - started).toBeLessThan(5000);
        expect(ticks).toBeGreaterThan(5); // the event loop ran while the tool hung
    });
});

describe('the backend runs inside the TD', () => {
    it.each([
        'http://127.0.0.1:8000',
        'http://127.8.9.1:8000/',
        'http://[::1]:8000',
        'http://127.1:8000', // the URL parser's normal form is what fetch connects to
        'https://127.0.0.1',
        'unix:/run/vllm.sock',
    ])('accepts %s', (spec) => {
        expect(isInsideTd(parseBackendTarget(spec))).toBe(true);
        expect(requireBackendInsideTd(spec, false)).toEqual(parseBackendTarget(spec));
    });

    it.each([
        'http://10.0.0.5:8000',
        'http://192.168.1.2',
        'https://api.openai.com',
        'http://[::ffff:10.0.0.1]:80',
        'http://localhost:8000',
        'http://localhost.evil.com',
        'http://0.0.0.0:8000',
        'http://128.0.0.1',
    ])('refuses %s outside --dev, accepts it with --dev', (spec) => {
        expect(() => requireBackendInsideTd(spec, false)).toThrow(BackendRefused);
        expect(() => requireBackendInsideTd(spec, false)).toThrow(/not inside this TD/);
        expect(requireBackendInsideTd(spec, true)).toEqual(parseBackendTarget(spec));
    });

    it.each([
        ['ftp://127.0.0.1', /only http\(s\) URLs and unix sockets/],
        ['unix:run/vllm.sock', /absolute path/],
        ['127.0.0.1:8000', /only http\(s\)|neither/],
        ['not a url', /neither an http\(s\) URL nor unix/],
    ])('refuses %s as a backend at all', (spec, message) => {
        expect(() => parseBackendTarget(spec)).toThrow(message);
    });
});

describe('the backend client follows no redirect', () => {
    it('refuses a 307 from a loopback backend instead of resending the prompt elsewhere', async () => {
        let leaked = '';
        const outside = createServer((req, res) => {
            req.on('data', (c: Buffer) => (leaked += c.toString()));
            req.on('end', () => res.writeHead(500).end());
        });
        await new Promise<void>((r) => outside.listen(0, '127.0.0.2', r));
        const loopback = createServer((req, res) => {
            req.resume();
            req.on('end', () =>
                res.writeHead(307, { location: `http://127.0.0.2:${(outside.address() as AddressInfo).port}/steal` }).end(),
            );
        });
        await new Promise<void>((r) => loopback.listen(0, '127.0.0.1', r));
        try {
            const backend = openAiBackend(requireBackendInsideTd(`http://127.0.0.1:${(loopback.address() as AddressInfo).port}`, false));
            await expect(backend.complete({ model: 'm', messages: [{ role: 'user', content: 'the client secret' }] })).rejects.toThrow(
                BackendUnavailable,
            );
            expect(leaked).toBe('');
        } finally {
            await new Promise<void>((r) => loopback.close(() => r()));
            await new Promise<void>((r) => outside.close(() => r()));
        }
    });
});

describe('a backend URL with credentials', () => {
    it('authenticates with them and never names them in an error', async () => {
        let authorization: string | undefined;
        const failing = createServer((req, res) => {
            authorization = req.headers.authorization;
            req.resume();
            req.on('end', () => res.writeHead(503).end());
        });
        await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
        try {
            const port = (failing.address() as AddressInfo).port;
            const backend = openAiBackend(`http://vllm:s3cret-pass@127.0.0.1:${port}`);
            const error = await backend.complete({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: Error) => e);
            expect(error).toBeInstanceOf(BackendUnavailable);
            expect((error as Error).message).toBe(`the model backend at http://127.0.0.1:${port}/v1/chat/completions answered HTTP 503`);
            expect(authorization).toBe(`Basic ${Buffer.from('vllm:s3cret-pass').toString('base64')}`);
        } finally {
            await new Promise<void>((r) => failing.close(() => r()));
        }
    });
});

describe('a backend on a unix socket', () => {
    it('that never answers is given up at the timeout', async () => {
        const socket = join(tempDir('backend'), 'silent.sock');
        const silent = createServer(() => undefined); // accepts, never answers
        await new Promise<void>((r) => silent.listen(socket, r));
        try {
            await expect(
                openAiBackend(`unix:${socket}`, { timeoutMs: 300 }).complete({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
            ).rejects.toThrow(/did not answer: no answer within 300 ms/);
        } finally {
            silent.closeAllConnections();
            await new Promise<void>((r) => silent.close(() => r()));
        }
    });

    it('that goes silent after its headers is given up after the timeout of silence, whole or streamed', async () => {
        const socket = join(tempDir('backend'), 'stalls.sock');
        const stalls = createServer((req, res) => {
            let body = '';
            req.on('data', (c: Buffer) => (body += c.toString()));
            req.on('end', () => {
                const stream = JSON.parse(body).stream === true;
                res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' });
                // one piece, then nothing more
                res.write(stream ? 'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}\n\n' : '{"id":');
            });
        });
        await new Promise<void>((r) => stalls.listen(socket, r));
        try {
            const backend = openAiBackend(`unix:${socket}`, { timeoutMs: 300 });
            const request = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
            await expect(backend.complete(request)).rejects.toThrow(/did not answer: no answer within 300 ms/);
            const started = Date.now();
            const chunks: unknown[] = [];
            await expect(
                (async () => {
                    for await (const chunk of await backend.stream({ ...request, stream: true })) chunks.push(chunk);
                })(),
            ).rejects.toThrow(/broke off its stream: no answer within 300 ms/);
            expect(chunks).toHaveLength(1); // the chunk before the silence arrived
            expect(Date.now() - started).toBeGreaterThanOrEqual(250);
        } finally {
            stalls.closeAllConnections();
            await new Promise<void>((r) => stalls.close(() => r()));
        }
    });

    it('is served over the socket, and a missing socket is reported as unavailable', async () => {
        const socket = join(tempDir('backend'), 'model.sock');
        const echo = await startEchoBackend({ socket });
        try {
            expect(echo.url).toBe(`unix:${socket}`);
            const completion = (await openAiBackend(echo.url).complete({
                model: 'echo',
                messages: [{ role: 'user', content: 'hello there' }],
            })) as ChatCompletion;
            expect(completion.choices[0].message.content).toContain('hello there');
            expect(completion.usage.completion_tokens).toBeGreaterThan(0);
        } finally {
            await echo.app.close();
        }
        await expect(
            openAiBackend(`unix:${socket}`).complete({ model: 'echo', messages: [{ role: 'user', content: 'x' }] }),
        ).rejects.toThrow(BackendUnavailable);
    });
});
