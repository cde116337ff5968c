// The dashboard's parts that need no chain: the snapshot cache and its failure states, the command
// line's usage errors, where the page's files are found, and endpoint URLs shown without secrets.
import { spawnSync } from 'child_process';
import { join } from 'path';
import { ChainUnavailable, ChainAccess } from '../../protocol/chain';
import { UsageError } from '../../protocol/cli';
import { parseDashboardArgs } from '../../dashboard/src/cli';
import { SnapshotService, findPublicDir, redactUrl } from '../../dashboard/src/server';
import { NetworkSnapshot } from '../../dashboard/src/snapshot';

const ROOT_DIR = join(__dirname, '..', '..');
const ROOT = 'kQAcAjpn5yc6gU8gYAueNmRW58GZR84J9IaV5NhWBhUVgzxv';
const URL_1 = 'http://127.0.0.1:1/api/v2/jsonRPC';

const snapshot = (takenAt: number) => ({ takenAt }) as unknown as NetworkSnapshot;
const down = new ChainUnavailable(
    { describe: `the TON API at ${URL_1}?api_key=secret` } as ChainAccess,
    'read Root',
    new Error('ECONNREFUSED'),
);

describe('SnapshotService', () => {
    it('reads at most once per maxAgeMs, one read for concurrent pages', async () => {
        let reads = 0;
        const service = new SnapshotService(
            async () => {
                reads += 1;
                await new Promise((r) => setTimeout(r, 20));
                return snapshot(reads);
            },
            [URL_1],
            { maxAgeMs: 200, refreshMs: 1000 },
        );
        const answers = await Promise.all([service.answer(), service.answer(), service.answer()]);
        expect(reads).toBe(1);
        expect(answers.map((a) => [a.status, a.snapshot?.takenAt, a.refreshMs])).toEqual([
            ['ok', 1, 1000],
            ['ok', 1, 1000],
            ['ok', 1, 1000],
        ]);
        await service.answer();
        expect(reads).toBe(1); // (still fresh)
        await new Promise((r) => setTimeout(r, 220));
        expect((await service.answer()).snapshot?.takenAt).toBe(2);
    });

    it('while the endpoints fail: unreachable since the first failure, endpoints named without secrets, the last snapshot kept', async () => {
        const outcomes: (NetworkSnapshot | Error)[] = [snapshot(1), down, down, snapshot(4)];
        const service = new SnapshotService(
            async () => {
                const next = outcomes.shift()!;
                if (next instanceof Error) throw next;
                return next;
            },
            [redactUrl(URL_1)],
            { maxAgeMs: 0 },
        );
        expect((await service.answer()).status).toBe('ok');
        const first = await service.answer();
        await new Promise((r) => setTimeout(r, 5));
        const second = await service.answer();
        expect(first).toMatchObject({ status: 'unreachable', snapshot: { takenAt: 1 }, endpoints: [URL_1] });
        expect(first.error!.message).toContain(`${URL_1} `);
        expect(first.error!.message).not.toContain('secret');
        expect(second.error!.since).toBe(first.error!.since);
        expect(second.checkedAt).toBeGreaterThan(first.checkedAt);
        const back = await service.answer();
        expect(back).toMatchObject({ status: 'ok', snapshot: { takenAt: 4 } });
        expect(back.error).toBeUndefined();
    });

    it('a failure other than the chain being unreachable (no Root there) is an error, with no snapshot yet', async () => {
        const service = new SnapshotService(() => Promise.reject(new Error(`no Root is deployed at ${ROOT}`)), [URL_1]);
        expect(await service.answer()).toMatchObject({
            status: 'error',
            snapshot: null,
            error: { message: `no Root is deployed at ${ROOT}` },
        });
    });
});

describe('redactUrl', () => {
    it('drops user, password, query and fragment', () => {
        expect(redactUrl('https://user:pw@toncenter.example/api/v2/jsonRPC?api_key=k#KEY_ENV')).toBe(
            'https://toncenter.example/api/v2/jsonRPC',
        );
        expect(redactUrl('nonsense')).toBe('(not a URL)');
    });

    it('is applied to the URLs an error message names', async () => {
        const failure = new Error(
            'every endpoint failed: https://user:pw@a.example/api?api_key=k1 (500); http://b.example/x#KEY (timeout)',
        );
        const service = new SnapshotService(() => Promise.reject(failure), ['https://a.example/api', 'http://b.example/x']);
        expect((await service.answer()).error!.message).toBe(
            'every endpoint failed: https://a.example/api (500); http://b.example/x (timeout)',
        );
    });
});

describe('the page files', () => {
    it('are found from the sources and from the compiled dist/dashboard/src/', () => {
        const source = join(ROOT_DIR, 'dashboard', 'public');
        expect(findPublicDir(join(ROOT_DIR, 'dashboard', 'src'))).toBe(source);
        expect(findPublicDir(join(ROOT_DIR, 'dist', 'dashboard', 'src'))).toBe(source);
        expect(() => findPublicDir('/nowhere/src')).toThrow("the dashboard's page was not found");
    });
});

describe('npm run dashboard: usage errors', () => {
    const base = ['--endpoint', URL_1, '--root', ROOT];

    it('takes endpoints, Root, host, port and refresh period', () => {
        const o = parseDashboardArgs([...base, '--port', '0', '--host', '0.0.0.0', '--refresh-seconds', '2'], {});
        expect({ ...o, root: o.root.toString({ testOnly: true }) }).toEqual({
            endpoints: [{ url: URL_1, apiKey: undefined }],
            root: ROOT,
            host: '0.0.0.0',
            port: 0,
            refreshSeconds: 2,
        });
        expect(parseDashboardArgs(base, { TONCENTER_API_KEY: 'k' }).endpoints).toEqual([{ url: URL_1, apiKey: 'k' }]);
        expect(parseDashboardArgs(base, {}).port).toBe(8090);
    });

    it.each([
        [['--root', ROOT], "required option '--endpoint <url...>' not specified"],
        [['--endpoint', URL_1], 'give --root ADDRESS: the Root contract of the network to show (the devnet prints it)'],
        [['--endpoint', URL_1, '--root', 'EQnope'], '--root must be a TON address, got EQnope'],
        [['--endpoint', 'not a url', '--root', ROOT], '--endpoint not a url is not a URL'],
        [['--endpoint', 'ftp://example.com/api', '--root', ROOT], '--endpoint ftp://example.com/api must be an http or https URL'],
        [
            ['--endpoint', `${URL_1}#NO_SUCH_KEY`, '--root', ROOT],
            `--endpoint ${URL_1}#NO_SUCH_KEY: the environment variable NO_SUCH_KEY (its API key) is not set`,
        ],
        [[...base, '--port', '70000'], '--port must be a port number (0 for any free one), got 70000'],
        [[...base, '--refresh-seconds', '0'], '--refresh-seconds must be a positive whole number, got 0'],
        [[...base, '--verbose'], "unknown option '--verbose'"],
    ])('%j: %s', (argv, message) => {
        let thrown: unknown;
        try {
            parseDashboardArgs(argv, {});
        } catch (e) {
            thrown = e;
        }
        expect(thrown).toBeInstanceOf(UsageError);
        expect((thrown as Error).message).toBe(message);
    });

    it('exits with status 64 and says why, once', () => {
        const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'dashboard/src/cli.ts', '--endpoint', URL_1], {
            cwd: ROOT_DIR,
            encoding: 'utf8',
        });
        expect([r.status, r.stderr]).toEqual([
            64,
            'cocoon-dashboard: give --root ADDRESS: the Root contract of the network to show (the devnet prints it)\n',
        ]);
    });
});
