// Several chain endpoints for a script. Blueprint connects a script to one endpoint (its --custom
// URL or the network's default); real operators lose service when that one goes down. With
// COCOON_ENDPOINTS="URL[#KEY_ENV],URL[#KEY_ENV],..." (toncenter-style v2 JSON-RPC URLs, each API
// key from the environment variable its fragment names), every read a script makes (getters,
// account states, transactions) goes to the first endpoint that answers, routing around one that
// fails, hangs or lags behind (protocol/chain.ts failoverChain). Sends go the same way when
// Blueprint signs with a mnemonic (`--mnemonic`, WALLET_MNEMONIC and WALLET_VERSION): the script
// signs the same wallet's transfer itself and hands it to the first endpoint that takes it (a
// transfer carries its seqno, so the wallet accepts it once whichever endpoint delivers it). A
// TON Connect or deeplink wallet signs elsewhere: its sends stay on Blueprint's connection.
import { NetworkProvider } from '@ton/blueprint';
import { Sender } from '@ton/core';
import { TonClient } from '@ton/ton';
import { WALLET_VERSIONS, WalletVersion, failoverChain, mnemonicWallet, parseEndpoint } from '../../protocol/chain';
import { progress } from '../../protocol/progress';
import { InputError } from './cli';
import { scriptOutput } from './send';

// `argv`: the wallet's wait for its seqno comes before a script's options reach anything, so its
// --quiet is looked for here (under `blueprint run` the script's options are in the process's argv).
export function withEndpoints(provider: NetworkProvider, env: NodeJS.ProcessEnv = process.env, argv = process.argv): NetworkProvider {
    const list = (env.COCOON_ENDPOINTS ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
    let chain: ReturnType<typeof failoverChain>;
    if (list.length === 0) {
        // Blueprint's own v2 endpoint, read through get-method.ts (its TonClient cannot read nested
        // tuples: a Provider's summary, a Session's terms). Other connections are left as they are.
        let api: unknown;
        try {
            api = provider.api();
        } catch {
            return provider; // (a connection without an API client: the sandbox's)
        }
        if (!(api instanceof TonClient)) return provider;
        chain = failoverChain([{ url: api.parameters.endpoint, apiKey: api.parameters.apiKey }]);
    } else {
        try {
            chain = failoverChain(list.map((e) => parseEndpoint(e, env)));
        } catch (e) {
            throw new InputError(`COCOON_ENDPOINTS: ${(e as Error).message.replace(/^--endpoint /, '')}`);
        }
    }
    const sender = list.length > 0 ? mnemonicSender(provider, chain, env, argv.includes('--quiet')) : undefined;
    const overrides: Partial<NetworkProvider> = {
        open: (contract) => chain.open(contract),
        provider: (address, init) => chain.provider(address, init),
        getContractState: (address) => chain.provider(address).getState(),
        isContractDeployed: async (address) => (await chain.accountState(address)) === 'active',
        ...(sender ? { sender: () => sender } : {}),
    };
    return new Proxy(provider, {
        get: (target, name, receiver) => {
            if (name in overrides) return overrides[name as keyof NetworkProvider];
            const value = Reflect.get(target, name, receiver);
            return typeof value === 'function' ? value.bind(target) : value;
        },
    });
}

// Blueprint's mnemonic wallet, signed here and sent through the endpoints; undefined when Blueprint
// signs with something else (no mnemonic in the environment, or it names another wallet than the
// one Blueprint connected to, as with TON Connect).
function mnemonicSender(
    provider: NetworkProvider,
    chain: ReturnType<typeof failoverChain>,
    env: NodeJS.ProcessEnv,
    quiet: boolean,
): Sender | undefined {
    const mnemonic = env.WALLET_MNEMONIC?.trim();
    const version = env.WALLET_VERSION?.trim().toLowerCase();
    if (!mnemonic || !version) return undefined;
    let blueprint: Sender;
    try {
        blueprint = provider.sender();
    } catch {
        return undefined; // (a script run without a wallet: it only reads)
    }
    if (!blueprint?.address) return undefined;
    if (!(WALLET_VERSIONS as readonly string[]).includes(version)) {
        throw new InputError(
            `COCOON_ENDPOINTS sends with WALLET_VERSION ${version}, which is not supported here (one of ${WALLET_VERSIONS.join(', ')}); unset COCOON_ENDPOINTS to send through Blueprint's one endpoint`,
        );
    }
    let wallet: ReturnType<typeof mnemonicWallet> | undefined;
    return {
        address: blueprint.address,
        send: async (args) => {
            wallet ??= mnemonicWallet(chain, mnemonic.split(/\s+/), {
                version: version as WalletVersion,
                testnet: provider.network() === 'testnet',
                progress: (what) => progress(what, { output: scriptOutput(provider.ui()), quiet, env }),
            });
            const mine = await wallet;
            if (!mine.address.equals(blueprint.address!)) return blueprint.send(args); // (another signer)
            return mine.sender.send(args);
        },
    };
}
