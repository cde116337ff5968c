// A Blueprint NetworkProvider backed by the sandbox, so that every script's run(provider, args)
// runs in jest exactly as `npx blueprint run` would run it against testnet.
import { NetworkProvider, SenderWithSendResult, UIProvider } from '@ton/blueprint';
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, Contract, SenderArguments, StateInit } from '@ton/core';

export interface ScriptRun {
    provider: NetworkProvider;
    output: string[]; // everything the script wrote
    prompts: string[]; // confirmation questions it asked
}

export function sandboxProvider(
    blockchain: Blockchain,
    wallet: SandboxContract<TreasuryContract>,
    opts: { confirm?: boolean; inputs?: string[]; network?: 'mainnet' | 'testnet' } = {},
): ScriptRun {
    const output: string[] = [];
    const prompts: string[] = [];
    const inputs = [...(opts.inputs ?? [])];
    const ui: UIProvider = {
        write: (m: string) => void output.push(m),
        prompt: async (m: string) => {
            prompts.push(m);
            return opts.confirm ?? false;
        },
        inputAddress: async (m: string) => {
            const next = inputs.shift();
            if (next === undefined) throw new Error(`the script asked for input nobody gave: ${m}`);
            return Address.parse(next);
        },
        input: async (m: string) => {
            const next = inputs.shift();
            if (next === undefined) throw new Error(`the script asked for input nobody gave: ${m}`);
            return next;
        },
        choose: async () => {
            throw new Error('choose is not used by Cocoon scripts');
        },
        setActionPrompt: () => undefined,
        clearActionPrompt: () => undefined,
    } as unknown as UIProvider;

    const sender: SenderWithSendResult & { lastSendResult?: unknown } = {
        address: wallet.address,
        async send(args: SenderArguments) {
            (sender as { lastSendResult?: unknown }).lastSendResult = await wallet.send(args);
        },
    };

    const provider = {
        network: () => opts.network ?? 'mainnet', // the sandbox's config is mainnet's (global id -239)
        explorer: () => 'tonviewer',
        sender: () => sender,
        api: () => {
            throw new Error('the sandbox provider has no API client');
        },
        provider: (address: Address, init?: { code?: Cell; data?: Cell }) => blockchain.provider(address, init as StateInit),
        isContractDeployed: async (address: Address) => (await blockchain.getContract(address)).accountState?.type === 'active',
        waitForDeploy: async (address: Address) => {
            if ((await blockchain.getContract(address)).accountState?.type !== 'active') throw new Error(`${address} was not deployed`);
        },
        waitForLastTransaction: async () => undefined,
        getContractState: (address: Address) => blockchain.provider(address).getState(),
        getConfig: async () => {
            throw new Error('not available in the sandbox provider');
        },
        deploy: async (contract: Contract, value: bigint, body?: Cell) => {
            await sender.send({ to: contract.address, value, body, init: contract.init ?? undefined });
        },
        open: <T extends Contract>(contract: T) => blockchain.openContract(contract),
        ui: () => ui,
    } as unknown as NetworkProvider;

    return { provider, output, prompts };
}
