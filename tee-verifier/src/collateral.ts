// Where quote collateral comes from: one file (offline), or a PCCS with a cache on disk so that a
// PCCS outage does not stop verification while cached collateral is still valid.
import { createHash } from 'crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Collateral, Quote, getCollateral } from '@phala/dcap-qvl';
import { CollateralSource } from './attest';
import { parseCollateral } from './quote';

export function fileCollateral(path: string): CollateralSource {
    const collateral = parseCollateral(readFileSync(path, 'utf8'));
    return { collateralFor: async () => collateral };
}

// A development verifier without collateral: it checks simulated evidence only, and says so to
// whoever sends it a real quote.
export function noCollateral(): CollateralSource {
    return {
        collateralFor: async () =>
            Promise.reject(
                new Error(
                    'this development verifier has no DCAP collateral: TDX quotes need it started with --collateral FILE or --pccs URL',
                ),
            ),
    };
}

const nextUpdate = (c: Collateral) => Date.parse(JSON.parse(c.tcb_info).tcbInfo?.nextUpdate ?? JSON.parse(c.tcb_info).nextUpdate) / 1000;

export function pccsCollateral(url: string, cacheDir: string, now: () => number = () => Date.now() / 1000): CollateralSource {
    mkdirSync(cacheDir, { recursive: true });
    return {
        async collateralFor(quote: Buffer) {
            // one platform, one cache entry: the PCK certificate chain identifies it
            const platform = createHash('sha256').update(Quote.parse(quote).rawCertChain()).digest('hex');
            const file = join(cacheDir, `${platform}.json`);
            const cached = existsSync(file) ? parseCollateral(readFileSync(file, 'utf8')) : undefined;
            if (cached && nextUpdate(cached) > now() + 3600) return cached;
            try {
                const fresh = await getCollateral(url, quote);
                writeFileSync(file, JSON.stringify(fresh));
                return fresh;
            } catch (e) {
                if (cached && nextUpdate(cached) > now()) return cached;
                throw new Error(
                    `cannot fetch collateral from the PCCS at ${url} (${(e as Error).message}) and no valid cached copy exists`,
                );
            }
        },
    };
}
