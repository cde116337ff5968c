// The network dashboard in a real browser: Debian's Chromium (driven by playwright-core) loads it,
// from the devnet's own /dashboard/ and from `npm run dashboard` pointed at the devnet, and the
// test reads what the page shows: the provider, the verifier set, the allowlist, the pending
// change, the treasury, the chart; then the devnet stops and the page must say the endpoint is
// down while still showing the last data. Screenshots go to test-output/dashboard/.
import { ChildProcess, spawn } from 'child_process';
import { existsSync, mkdirSync } from 'fs';
import { join } from 'path';
import { Browser, Page, chromium } from 'playwright-core';
import { amountDue } from '../../wrappers';
import { DashboardAnswer } from '../../dashboard/src/server';
import { BusyDevnet, GPU_MODEL, PENDING_VERIFIER, PRICES, USAGE, busyDevnet, newDevnet } from './busy-devnet';
import { tempDir } from '../tmp';

const ROOT_DIR = join(__dirname, '..', '..');
const CHROMIUM = process.env.COCOON_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = join(ROOT_DIR, 'test-output', 'dashboard');
const FEE = (amountDue(USAGE, PRICES) * 250n) / 10_000n; // protocolFeeBps 250 of the 4 TON claimed: 0.1 TON

describe('the network dashboard', () => {
    let devnet: BusyDevnet;
    let devnetUp = true;
    let browser: Browser;
    let cli: ChildProcess | undefined;
    let standalone: string; // npm run dashboard's page

    beforeAll(async () => {
        if (!existsSync(CHROMIUM)) {
            throw new Error(
                `Chromium is not at ${CHROMIUM}: install Debian's package (apt-get install -y --no-install-recommends chromium; .ci/run does) or set COCOON_CHROMIUM to its path`,
            );
        }
        mkdirSync(SCREENSHOTS, { recursive: true });
        const net = await newDevnet(tempDir('dashboard'));
        // the state, the browser and `npm run dashboard` (its own process, reading the devnet's toncenter API) start together
        const started = Promise.all([
            busyDevnet(net),
            chromium.launch({ executablePath: CHROMIUM }),
            startCli(net.url + 'jsonRPC', net.info.root!),
        ]);
        [devnet, browser, standalone] = await started.catch(async (e) => {
            await net.close();
            throw e;
        });
    }, 90_000);

    afterAll(async () => {
        cli?.kill();
        await browser?.close();
        if (devnetUp) await devnet?.net.close();
    });

    const startCli = (rpc: string, root: string) => {
        cli = spawn(
            process.execPath,
            [
                '-r',
                'ts-node/register/transpile-only',
                'dashboard/src/cli.ts',
                '--endpoint',
                rpc,
                '--root',
                root,
                '--port',
                '0',
                '--refresh-seconds',
                '1',
            ],
            { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        return new Promise<string>((resolve, reject) => {
            let out = '';
            let err = '';
            cli!.stdout!.on('data', (d) => {
                out += d;
                const m = /dashboard at (http:\/\/\S+)/.exec(out);
                if (m) resolve(m[1]);
            });
            cli!.stderr!.on('data', (d) => (err += d));
            cli!.on('exit', (code) => reject(new Error(`npm run dashboard exited with ${code}: ${err}`)));
        });
    };

    const open = async (url: string, viewport: { width: number; height: number }): Promise<Page> => {
        const page = await browser.newPage({ viewport });
        const problems: string[] = [];
        page.on('pageerror', (e) => problems.push(e.message));
        page.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && problems.push(m.text()));
        await page.goto(url);
        await page.locator('#status.live').waitFor({ timeout: 20_000 });
        expect(problems).toEqual([]); // (no script error, nothing the content security policy refused)
        return page;
    };

    it('answers GET api/snapshot with the network as JSON, from the devnet at /dashboard/ and from npm run dashboard', async () => {
        const res = await fetch(devnet.net.dashboard + 'api/snapshot');
        expect(res.status).toBe(200);
        const answer = (await res.json()) as DashboardAnswer;
        const s = answer.snapshot!;
        expect(answer).toMatchObject({ status: 'ok', endpoints: [devnet.rpc] });
        expect(s.root).toMatchObject({
            address: devnet.root.toString({ testOnly: true }),
            treasury: FEE.toString(),
            providerCount: 1,
            verifiers: { count: 2, threshold: 2 },
            measurements: [devnet.net.info.measurement],
            pendingChanges: [{ id: 0, kind: 'add verifier', value: PENDING_VERIFIER.toString('hex') }],
        });
        expect(s.providers).toHaveLength(1);
        const p = s.providers[0];
        expect(p).toMatchObject({
            address: devnet.provider.toString({ testOnly: true }),
            status: 'active',
            attestation: { tcbStatus: 'Simulated', measurement: devnet.net.info.measurement, revoked: false },
            listing: {
                gpuModel: GPU_MODEL,
                gpuCount: 8,
                vramGb: 80,
                models: [{ name: 'cocoon-echo', prices: { prompt: PRICES.prompt.toString() } }],
            },
            record: { sessionsServed: 1, settled: amountDue(USAGE, PRICES).toString(), slashCount: 0, timeoutCount: 0 },
        });
        expect(BigInt(p.stake)).toBeGreaterThan(149_000_000_000n);
        expect(BigInt(p.locked)).toBeGreaterThanOrEqual(2_000_000_000n); // 20% of the open session's 10 TON
        expect(s.sessions.map((x) => [x.address, x.status])).toEqual([
            [devnet.openSession.toString({ testOnly: true }), 'open'],
            [devnet.finalizedSession.toString({ testOnly: true }), 'finalized'],
        ]);
        const buckets = s.activity.buckets;
        expect(buckets).toHaveLength(24);
        expect(buckets.reduce((n, b) => n + b.sessions, 0)).toBe(2);
        expect(buckets.reduce((n, b) => n + BigInt(b.fees), 0n)).toBe(FEE);
        expect(s.activity.complete).toBe(true);

        // the same network from npm run dashboard; the devnet's /dashboard leads to /dashboard/
        const other = (await (await fetch(standalone + 'api/snapshot')).json()) as DashboardAnswer;
        expect(other.snapshot!.providers.map((x) => x.address)).toEqual([p.address]);
        const bare = await fetch(devnet.net.dashboard!.replace(/\/$/, ''), { redirect: 'manual' });
        expect([bare.status, bare.headers.get('location')]).toEqual([302, '/dashboard/']);
        const page = await fetch(devnet.net.dashboard!);
        expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    });

    it('shows providers, verifiers, allowlist, governance, treasury and the chart at desktop size (the devnet /dashboard/)', async () => {
        const page = await open(devnet.net.dashboard!, { width: 1280, height: 900 });
        const card = page.locator(`article.provider[data-address="${devnet.provider.toString({ testOnly: true })}"]`);
        expect(await card.locator('.pill').textContent()).toBe('active');
        expect(await card.locator('code.addr').textContent()).toBe(devnet.provider.toString({ testOnly: true }));
        expect(await card.locator('.stake').textContent()).toMatch(/^149\.\d{1,4} TON$/);
        expect(await card.locator('.locked').textContent()).toMatch(/^2\.\d{1,4} TON$/);
        expect(await card.locator('.attestation').textContent()).toMatch(
            /^valid until \d{4}-\d\d-\d\d \d\d:\d\d \(in \d+ h\) · TCB Simulated$/,
        );
        expect(await card.locator('.gpus').textContent()).toBe(`8 × ${GPU_MODEL} (80 GB each)`);
        expect(await card.locator('.record').textContent()).toBe('1 session served · 4 TON settled · 0 slashes · 0 timeouts · 0 jails');
        expect(await card.locator('.models li').textContent()).toBe(
            'cocoon-echo: 1 TON prompt · 0.5 TON cached · 3 TON completion · 3 TON reasoning, per 1M tokens',
        );
        expect(await page.locator('#card-verifiers .value').textContent()).toBe('2 of 2');
        expect(await page.locator('#verifier-summary').textContent()).toContain('2 verifiers; an attestation needs 2 of their signatures');
        expect(await page.locator('#measurements').textContent()).toBe(devnet.net.info.measurement);
        expect(await page.locator('#pending').textContent()).toMatch(/^#0 add verifier 7777777777…777777: executable from .* \(in 8 d\)$/);
        expect(await page.locator('#card-treasury .value').textContent()).toBe('0.1 TON');
        expect(await page.locator('#card-sessions .value').textContent()).toBe('2');
        expect(await page.locator('#sessions tbody tr').count()).toBe(2);
        // the chart: a point and a bar per hour, the fee and the two sessions among them
        expect(await page.locator('#chart svg circle.point').count()).toBe(24);
        expect(await page.locator(`#chart svg circle.point[data-fees="${FEE}"]`).count()).toBe(1);
        expect(await page.locator('#chart svg rect.bar[data-sessions="1"]').count()).toBe(2);
        expect(await page.locator('#banner').isHidden()).toBe(true);
        await page.screenshot({ path: join(SCREENSHOTS, 'desktop.png'), fullPage: true });
        await page.close();
    });

    it('fits a phone-sized screen (390 x 844, npm run dashboard)', async () => {
        const page = await open(standalone, { width: 390, height: 844 });
        expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390); // (no sideways scrolling)
        const card = page.locator('article.provider');
        expect(await card.locator('.pill').textContent()).toBe('active');
        const box = (await card.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(390);
        expect(await page.locator('#chart svg circle.point').count()).toBe(24);
        await page.screenshot({ path: join(SCREENSHOTS, 'phone.png'), fullPage: true });
        await page.close();
    });

    it('says when the endpoint is down, keeping the last data, and when the dashboard server itself is gone', async () => {
        const page = await open(standalone, { width: 390, height: 844 });
        const address = devnet.provider.toString({ testOnly: true });
        await devnet.net.close();
        devnetUp = false;
        const banner = page.locator('#banner');
        await banner.locator('strong', { hasText: 'Endpoint unreachable since' }).waitFor({ timeout: 15_000 });
        expect(await banner.textContent()).toMatch(
            new RegExp(
                `^Endpoint unreachable since \\d\\d:\\d\\d \\(${devnet.rpc.replace(/[.?]/g, '\\$&')}\\)\\. Showing data from \\d\\d:\\d\\d:\\d\\d\\.`,
            ),
        );
        expect(await page.locator('#status').textContent()).toMatch(/^stale: last snapshot \d\d:\d\d:\d\d$/);
        expect(await page.locator('article.provider code.addr').textContent()).toBe(address); // (the last data stays)
        const answer = await fetch(standalone + 'api/snapshot');
        expect(answer.status).toBe(503);
        expect(((await answer.json()) as DashboardAnswer).snapshot?.providers[0].address).toBe(address);
        await page.screenshot({ path: join(SCREENSHOTS, 'endpoint-down.png'), fullPage: true });

        cli!.kill();
        await banner.locator('strong', { hasText: 'The dashboard server does not answer since' }).waitFor({ timeout: 15_000 });
        expect(await page.locator('article.provider code.addr').textContent()).toBe(address);
        await page.close();
    });
});
