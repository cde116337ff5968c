// The dashboard's HTTP face: the static page (dashboard/public/) and GET api/snapshot, under any
// prefix of any Fastify app (its own server: cli.ts; the devnet's, at /dashboard/). Snapshots are
// read at most once per maxAgeMs whatever the number of open pages, one read at a time; when the
// endpoints fail the answer says so, naming them, and still carries the last good snapshot.
import Fastify, { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { Address } from '@ton/core';
import { ChainUnavailable, Endpoint, failoverChain } from '../../protocol/chain';
import { NetworkReader, NetworkSnapshot, SnapshotLimits } from './snapshot';

/** What GET api/snapshot answers (200 when the last read succeeded, 503 when it failed). */
export interface DashboardAnswer {
    status: 'ok' | 'unreachable' | 'error';
    checkedAt: number; // unix ms of the last read attempt
    endpoints: string[]; // as tried (without credentials)
    refreshMs: number; // how often the page asks again
    snapshot: NetworkSnapshot | null; // the last good one, however old
    error?: { message: string; since: number }; // while reads fail: since when
}

/** How often the snapshot is read and the page refreshed; both have defaults. */
export interface RefreshOptions {
    maxAgeMs?: number; // a snapshot is reused this long (default 5 s)
    refreshMs?: number; // the page asks again this often (default 5 s)
}

/** Keeps the last snapshot, reads a new one when it is older than maxAgeMs, and remembers since when reads fail. */
export class SnapshotService {
    private last: NetworkSnapshot | null = null;
    private checkedAt = 0;
    private failure?: { message: string; since: number; unreachable: boolean };
    private reading?: Promise<void>;

    constructor(
        private readonly read: () => Promise<NetworkSnapshot>,
        private readonly endpoints: string[],
        private readonly o: RefreshOptions = {},
    ) {}

    async answer(): Promise<DashboardAnswer> {
        if (Date.now() - this.checkedAt >= (this.o.maxAgeMs ?? 5000)) {
            this.reading ??= this.refresh().finally(() => (this.reading = undefined));
            await this.reading;
        }
        return {
            status: this.failure ? (this.failure.unreachable ? 'unreachable' : 'error') : 'ok',
            checkedAt: this.checkedAt,
            endpoints: this.endpoints,
            refreshMs: this.o.refreshMs ?? 5000,
            snapshot: this.last,
            ...(this.failure ? { error: { message: this.failure.message, since: this.failure.since } } : {}),
        };
    }

    private async refresh() {
        try {
            this.last = await this.read();
            this.failure = undefined;
        } catch (e) {
            this.failure = {
                message: redactMessage((e as Error)?.message ?? String(e)),
                since: this.failure?.since ?? Date.now(),
                unreachable: e instanceof ChainUnavailable,
            };
        } finally {
            this.checkedAt = Date.now();
        }
    }
}

/** An endpoint URL fit to show: no user, password, query (some APIs take keys there) or fragment. */
export function redactUrl(url: string): string {
    try {
        const u = new URL(url);
        u.username = '';
        u.password = '';
        u.search = '';
        u.hash = '';
        return u.toString();
    } catch {
        return '(not a URL)';
    }
}

// Error messages name the endpoints as they were given: show them redacted.
function redactMessage(message: string): string {
    return message.replace(/(https?:\/\/)[^\s/@]+@/g, '$1').replace(/(https?:\/\/[^\s?#]+)[?#][^\s,;()]*/g, '$1');
}

const STATIC_FILES: Record<string, string> = {
    'index.html': 'text/html; charset=utf-8',
    'app.js': 'text/javascript; charset=utf-8',
    'style.css': 'text/css; charset=utf-8',
};

/**
 * Where the page's files are: dashboard/public beside the sources (ts-node), or, from the compiled
 * dist/dashboard/src/, the same folder of the repository (tsc copies no static files).
 */
export function findPublicDir(fromDir: string = __dirname): string {
    const candidates = [join(fromDir, '..', 'public'), join(fromDir, '..', '..', '..', 'dashboard', 'public')];
    const found = candidates.find((d) => existsSync(join(d, 'index.html')));
    if (!found) throw new Error(`the dashboard's page was not found (looked in ${candidates.join(', ')})`);
    return found;
}

/** What registerDashboard serves: a Root through some endpoints, under a prefix. */
export interface DashboardOptions extends RefreshOptions {
    root: Address;
    // the endpoints, or how to learn them once the app listens (the devnet's own URL)
    endpoints: Endpoint[] | (() => Endpoint[]);
    prefix?: string; // '' (default) or e.g. '/dashboard'
    limits?: SnapshotLimits;
    timeoutMs?: number; // one call to one endpoint (default 4 s)
}

/** Adds the page and GET PREFIX/api/snapshot to `app` (before it listens). */
export function registerDashboard(app: FastifyInstance, o: DashboardOptions): void {
    const prefix = (o.prefix ?? '').replace(/\/$/, '');
    const dir = findPublicDir();
    const files = Object.fromEntries(Object.keys(STATIC_FILES).map((name) => [name, readFileSync(join(dir, name))]));
    let service: SnapshotService | undefined;
    const serviceNow = () => {
        if (service) return service;
        const endpoints = typeof o.endpoints === 'function' ? o.endpoints() : o.endpoints;
        // one round over the endpoints: the page asks again in a few seconds anyway
        const timeoutMs = o.timeoutMs ?? 4000;
        const chain = failoverChain(endpoints, { timeoutMs, rounds: 1 });
        const reader = new NetworkReader(chain, o.root, o.limits);
        return (service = new SnapshotService(
            () => reader.snapshot(),
            endpoints.map((e) => redactUrl(e.url)),
            o,
        ));
    };
    // Nothing on the page comes from elsewhere: scripts, styles and requests stay on this origin.
    const headers = {
        'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'",
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-cache',
    };
    const serve = (name: string) => async (_req: unknown, reply: import('fastify').FastifyReply) =>
        reply.headers({ ...headers, 'content-type': STATIC_FILES[name] }).send(files[name]);
    if (prefix) app.get(prefix, async (_req, reply) => reply.redirect(`${prefix}/`));
    app.get(`${prefix}/`, serve('index.html'));
    app.get(`${prefix}/app.js`, serve('app.js'));
    app.get(`${prefix}/style.css`, serve('style.css'));
    app.get(`${prefix}/api/snapshot`, async (_req, reply) => {
        const answer = await serviceNow().answer();
        return reply
            .code(answer.status === 'ok' ? 200 : 503)
            .headers({ 'cache-control': 'no-store' })
            .send(answer);
    });
}

/** The dashboard as its own server (npm run dashboard). */
export function buildDashboardServer(o: DashboardOptions): FastifyInstance {
    const app = Fastify({ logger: false });
    registerDashboard(app, { ...o, prefix: '' });
    return app;
}
