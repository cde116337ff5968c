// The OpenAI-compatible gateway (gateway/) with the stock `openai` package against
// `npm run gateway -- --local`: what an app developer does first.
import OpenAI from 'openai';
import { execFile } from 'child_process';
import { promisify } from 'util';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { GatewayCliOptions, gatewayProgram, startGateway } from '../../gateway/src/cli';
import { ECHO_PREFIX } from '../../worker/src/echo-backend';
import { tempDir } from '../tmp';
import { toNano } from '@ton/core';
import { buildGateway } from '../../gateway/src/app';
import { DEFAULT_SESSION_POLICY } from '../../gateway/src/sessions';
import { DEMO_PRICES, addLocalProvider, localClient, startLocalNetwork } from '../../testkit/local-network';

function options(extra: string[] = []): GatewayCliOptions {
    return gatewayProgram()
        .parse(['--local', '--port', '0', '--quiet', ...extra], { from: 'user' })
        .opts<GatewayCliOptions>();
}

describe('the OpenAI-compatible gateway (--local)', () => {
    let gateway: { url: string; stop: () => Promise<void> };
    let openai: OpenAI;

    beforeAll(async () => {
        gateway = await startGateway(options(['--budget', '50', '--top-up-below', '10', '--top-up', '20']));
        openai = new OpenAI({ baseURL: gateway.url, apiKey: 'not-needed-on-loopback', maxRetries: 0 });
    });
    afterAll(() => gateway?.stop());

    it('lists the models the chain lists, with their providers, hash and four prices', async () => {
        const models = [];
        for await (const m of openai.models.list()) models.push(m);
        expect(models).toEqual([
            expect.objectContaining({
                id: 'cocoon-echo',
                object: 'model',
                owned_by: 'cocoon',
                providers: 1,
                pricing: expect.objectContaining({
                    prompt: '100000000000',
                    cachedPrompt: '50000000000',
                    completion: '300000000000',
                    reasoning: '400000000000',
                }),
            }),
        ]);
    });

    it('answers a chat completion, with usage details', async () => {
        const c = await openai.chat.completions.create({ model: 'cocoon-echo', messages: [{ role: 'user', content: 'hello gateway' }] });
        expect(c.object).toBe('chat.completion');
        expect(c.model).toBe('cocoon-echo');
        expect(c.choices[0].message.content).toBe(`${ECHO_PREFIX} hello gateway`);
        expect(c.usage).toMatchObject({
            prompt_tokens: 6,
            prompt_tokens_details: { cached_tokens: 0 },
            completion_tokens_details: { reasoning_tokens: 0 },
        });
    });

    it('streams, with the usage chunk when include_usage asks for it', async () => {
        const stream = await openai.chat.completions.create({
            model: 'cocoon-echo',
            messages: [{ role: 'user', content: 'stream this please' }],
            stream: true,
            stream_options: { include_usage: true },
        });
        let text = '';
        let usage: OpenAI.CompletionUsage | undefined | null;
        let chunks = 0;
        for await (const chunk of stream) {
            chunks += 1;
            text += chunk.choices[0]?.delta?.content ?? '';
            if (chunk.usage) usage = chunk.usage;
        }
        expect(chunks).toBeGreaterThan(5);
        expect(text).toBe(`${ECHO_PREFIX} stream this please`);
        expect(usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 18 });
    });

    it('does a tool-call round trip, and passes response_format through', async () => {
        const tools: OpenAI.ChatCompletionTool[] = [
            { type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { text: { type: 'string' } } } } },
        ];
        const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'weather in Dubai' }];
        const first = await openai.chat.completions.create({ model: 'cocoon-echo', messages, tools });
        const call = first.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
        expect(first.choices[0].finish_reason).toBe('tool_calls');
        expect(JSON.parse(call.function.arguments)).toEqual({ text: 'weather in Dubai' });
        messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '31 degrees, sunny' });
        const second = await openai.chat.completions.create({ model: 'cocoon-echo', messages, tools });
        expect(second.choices[0].message.content).toBe(`${ECHO_PREFIX} the tool returned: 31 degrees, sunny`);

        const json = await openai.chat.completions.create({
            model: 'cocoon-echo',
            messages: [{ role: 'user', content: 'as json' }],
            response_format: { type: 'json_schema', json_schema: { name: 'echo', schema: { type: 'object' } } },
        });
        expect(JSON.parse(json.choices[0].message.content!)).toEqual({ echo: 'as json' });
    });

    it("refuses a model nobody offers and a malformed request with 400 in OpenAI's shape", async () => {
        const bad = await openai.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
        expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
        expect(bad.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
        const res = await fetch(`${gateway.url}/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'cocoon-echo', messages: [] }),
        });
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'messages' } });
        const noPrompt = await openai.completions.create({ model: 'cocoon-echo' } as never).catch((e) => e);
        expect([noPrompt.status, noPrompt.error.param]).toEqual([400, 'prompt']);
        const batch = await openai.completions.create({ model: 'cocoon-echo', prompt: ['one', 'two'] }).catch((e) => e);
        expect([batch.status, batch.error.param]).toEqual([400, 'prompt']); // one prompt per request
        const beams = await openai.completions.create({ model: 'cocoon-echo', prompt: 'x', best_of: 4 }).catch((e) => e);
        expect([beams.status, beams.error.param]).toEqual([400, 'best_of']);
        const longKey = await openai.chat.completions
            .create(
                { model: 'cocoon-echo', messages: [{ role: 'user', content: 'x' }] },
                { headers: { 'Idempotency-Key': 'k'.repeat(256) } },
            )
            .catch((e) => e);
        expect([longKey.status, longKey.error.message]).toEqual([400, 'Idempotency-Key is longer than 255 characters']);
    });

    it('answers text completions (the legacy API) where the backend offers them, whole and streamed with usage', async () => {
        const whole = await openai.completions.create({ model: 'cocoon-echo', prompt: 'complete this line', max_tokens: 40 });
        expect(whole.object).toBe('text_completion');
        expect(whole.choices[0].text).toBe(`${ECHO_PREFIX} complete this line`);
        expect(whole.usage).toMatchObject({ prompt_tokens: 3 });
        const stream = await openai.completions.create({
            model: 'cocoon-echo',
            prompt: 'stream this line',
            stream: true,
            stream_options: { include_usage: true },
        });
        let text = '';
        let usage;
        for await (const c of stream) {
            expect(c.object).toBe('text_completion');
            text += c.choices[0]?.text ?? '';
            if (c.usage) usage = c.usage;
        }
        expect(text).toBe(`${ECHO_PREFIX} stream this line`);
        expect(usage).toMatchObject({ prompt_tokens: 3, completion_tokens: expect.any(Number) });
        const ids = await openai.completions.create({ model: 'cocoon-echo', prompt: [101, 102, 103, 104], max_tokens: 40 });
        expect(ids.usage?.prompt_tokens).toBe(4);
    });

    it("runs the README's curl examples", async () => {
        const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
        const block = /```sh\n(# the OpenAI-compatible API[\s\S]*?)```/.exec(readme);
        expect(block).not.toBeNull();
        const commands = block![1]
            .replace(/\\\n\s*/g, ' ')
            .split('\n')
            .filter((l) => l.startsWith('curl '));
        expect(commands.length).toBeGreaterThanOrEqual(2);
        const port = new URL(gateway.url).port;
        for (const command of commands) {
            // (not execFileSync: the gateway answers from this process's event loop)
            const { stdout: out } = await promisify(execFile)('sh', ['-c', command.replace(/127\.0\.0\.1:8080/g, `127.0.0.1:${port}`)]);
            expect(out).toMatch(/cocoon-echo|You said/);
        }
    });
});

describe('gateway usage', () => {
    it('refuses --dev (workers without a TEE) on mainnet', async () => {
        const o = gatewayProgram()
            .parse(['--dev', '--network', 'mainnet', '--root', 'EQBJiRlpisFNVP4G4WKK5qT3d7PFCBcCJg1xLhkgNZSAkSHP'], { from: 'user' })
            .opts<GatewayCliOptions>();
        await expect(startGateway(o)).rejects.toThrow('--dev accepts workers without a TEE (simulated evidence): never on mainnet');
    });
});

describe('gateway API keys and budgets', () => {
    it('asks for one of its API keys when it has a key file, and never needs the key in its log', async () => {
        const file = join(tempDir('gateway-keys'), 'keys');
        writeFileSync(file, '# the team\nkey-for-alice-0123456789\n');
        const g = await startGateway(options(['--api-keys', file]));
        try {
            const denied = await new OpenAI({ baseURL: g.url, apiKey: 'wrong-key-0123456789', maxRetries: 0 }).models
                .list()
                .catch((e) => e);
            expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
            expect(denied.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
            const models = await new OpenAI({ baseURL: g.url, apiKey: 'key-for-alice-0123456789', maxRetries: 0 }).models.list();
            expect(models.data.map((m) => m.id)).toEqual(['cocoon-echo']);
        } finally {
            await g.stop();
        }
    });

    it('tops a session up when a request needs more than its budget left; 402 when even that cannot pay', async () => {
        // sessions of 2 TON topped up by 1 TON: a prompt whose worst case is above 3 TON cannot be served
        const g = await startGateway(options(['--budget', '2', '--top-up-below', '0.000000001', '--top-up', '1']));
        try {
            const openai = new OpenAI({ baseURL: g.url, apiKey: 'x', maxRetries: 0 });
            await openai.chat.completions.create({ model: 'cocoon-echo', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
            // about 2.1 TON of worst case (a token per byte at 100 TON per million): more than the
            // budget left, less than after a top-up
            const medium = 'y '.repeat(10_500);
            const served = await openai.chat.completions.create({
                model: 'cocoon-echo',
                messages: [{ role: 'user', content: medium }],
                max_tokens: 20,
            });
            expect(served.choices[0].message.content).toContain('You said');
            const huge = 'z '.repeat(40_000);
            const refused = await openai.chat.completions
                .create({ model: 'cocoon-echo', messages: [{ role: 'user', content: huge }], max_tokens: 8 })
                .catch((e) => e);
            expect(refused.status).toBe(402);
            expect(refused.error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exhausted' });
            // and no top-up for it: one could not pay it either (each would move wallet funds into escrow for nothing)
            expect(refused.error.message).toContain('more than a top-up of the session could pay');
        } finally {
            await g.stop();
        }
    });
});

describe('gateway failover', () => {
    it("when the chosen provider's worker is gone, requests fail over to the next provider, whole and streamed", async () => {
        const net = await startLocalNetwork();
        try {
            await net.worker.attest();
            // a dearer second provider: the first is chosen while it works
            const second = await addLocalProvider(net, 'second', { prices: { ...DEMO_PRICES, completion: DEMO_PRICES.completion * 2n } });
            const client = localClient(net, { retries: 1 });
            const app = await buildGateway({ client, policy: { ...DEFAULT_SESSION_POLICY, budget: toNano('20') } });
            const url = await app.listen({ host: '127.0.0.1', port: 0 });
            const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
            const ask = (content: string) => ({ model: 'cocoon-echo', messages: [{ role: 'user' as const, content }], max_tokens: 32 });
            try {
                expect((await openai.chat.completions.create(ask('first'))).choices[0].message.content).toContain('first');
                expect([net.worker.stats.requests, second.worker.stats.requests]).toEqual([1, 0]);
                await net.stopWorker(); // the first provider's worker is gone
                expect((await openai.chat.completions.create(ask('second'))).choices[0].message.content).toContain('second');
                const stream = await openai.chat.completions.create({ ...ask('third'), stream: true });
                let text = '';
                for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
                expect(text).toContain('third');
                expect(second.worker.stats.requests).toBe(2);
            } finally {
                await app.close();
            }
        } finally {
            await net.stop();
        }
    });
});
