// The devnet as a library: what `npm run devnet` starts (cli.ts), for tests and the process demo.
import { existsSync, readFileSync } from 'fs';
import { join, resolve } from 'path';
import { Address } from '@ton/core';
import { GLOBAL_ID_TESTNET } from '../../wrappers';
import { registerDashboard } from '../../dashboard/src/server';
import { DevChain } from './chain';
import { buildToncenterApi } from './api';
import { DevnetInfo, setUpDevnet } from './setup';

export { DevChain } from './chain';
export type { DevnetInfo } from './setup';

export interface DevnetOptions {
    dir: string; // the state directory
    port: number; // 0: any free port
    host?: string;
    deploy?: boolean; // the protocol (default true)
    verifiers?: number; // development verifiers on Root (default 2, all must sign)
    wallets?: number; // funded wallets (default 4: governance, provider, verifier, client)
    modelHash: Buffer; // whose development measurement Root allowlists
}

export interface Devnet {
    url: string; // the toncenter v2 API: http://HOST:PORT/api/v2/
    info: DevnetInfo;
    chain: DevChain;
    fresh: boolean; // set up now, not loaded from the state directory
    dashboard?: string; // the network dashboard: http://HOST:PORT/dashboard/ (once Root is deployed)
    close(): Promise<void>;
}

export async function startDevnet(o: DevnetOptions): Promise<Devnet> {
    const dir = resolve(o.dir);
    const chain = await DevChain.open(dir, GLOBAL_ID_TESTNET);
    const infoFile = join(dir, 'devnet.json');
    const fresh = chain.fresh || !existsSync(infoFile);
    const info = fresh
        ? await setUpDevnet(chain, dir, {
              deploy: o.deploy ?? true,
              verifiers: o.verifiers ?? 2,
              wallets: o.wallets ?? 4,
              modelHash: o.modelHash,
          })
        : (JSON.parse(readFileSync(infoFile, 'utf8')) as DevnetInfo);
    const app = await buildToncenterApi(chain, { supply: info.supply === undefined ? undefined : BigInt(info.supply) });
    const host = o.host ?? '127.0.0.1';
    let url = '';
    // The dashboard reads this devnet through its own API, as it reads any network (its URL is known once listening).
    if (info.root)
        registerDashboard(app, { prefix: '/dashboard', root: Address.parse(info.root), endpoints: () => [{ url: url + 'jsonRPC' }] });
    await app.listen({ host, port: o.port });
    const port = (app.server.address() as { port: number }).port;
    url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/api/v2/`;
    const dashboard = info.root ? url.replace(/\/api\/v2\/$/, '/dashboard/') : undefined;
    return { url, info, chain, fresh, dashboard, close: () => app.close() };
}
