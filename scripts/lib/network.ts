// Several chain endpoints for a script's reads. Blueprint connects a script to one endpoint (its
// --custom URL or the network's default); real operators lose service when that one goes down.
// With COCOON_ENDPOINTS="URL[#KEY_ENV],URL[#KEY_ENV],..." (toncenter-style v2 JSON-RPC URLs, each
// API key from the environment variable its fragment names), every read a script makes (getters,
// account states, the state before a send) goes to the first endpoint that answers, routing
// around one that fails, hangs or lags behind (protocol/chain.ts failoverChain). Sends still go
// through Blueprint's own connection, which signs them with its wallet or TON Connect.
import { NetworkProvider } from '@ton/blueprint';
import { failoverChain, parseEndpoint } from '../../protocol/chain';
import { InputError } from './cli';

export function withEndpoints(provider: NetworkProvider, env: NodeJS.ProcessEnv = process.env): NetworkProvider {
    const list = (env.COCOON_ENDPOINTS ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
    if (list.length === 0) return provider;
    let chain: ReturnType<typeof failoverChain>;
    try {
        chain = failoverChain(list.map((e) => parseEndpoint(e, env)));
    } catch (e) {
        throw new InputError(`COCOON_ENDPOINTS: ${(e as Error).message.replace(/^--endpoint /, '')}`);
    }
    const reads: Partial<NetworkProvider> = {
        open: (contract) => chain.open(contract),
        provider: (address, init) => chain.provider(address, init),
        getContractState: (address) => chain.provider(address).getState(),
        isContractDeployed: async (address) => (await chain.accountState(address)) === 'active',
    };
    return new Proxy(provider, {
        get: (target, name, receiver) => {
            if (name in reads) return reads[name as keyof NetworkProvider];
            const value = Reflect.get(target, name, receiver);
            return typeof value === 'function' ? value.bind(target) : value;
        },
    });
}
