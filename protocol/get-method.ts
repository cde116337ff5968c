// Get methods through a toncenter v2 API, with the stack read completely. @ton/ton's TonClient
// reads only the top level of a stack: what is inside a tuple comes back as bare values, so a
// getter returning nested structs (a Provider's summary, a Session's terms) fails with "Not a
// number" (ton-org/ton issue 31). Every reader in this repository that goes through a toncenter
// API (protocol/chain.ts failoverChain, Blueprint scripts) runs get methods here instead.
import { Address, Cell, TupleItem, TupleReader } from '@ton/core';
import { postJson } from './http-post';

export interface GetMethodEndpoint {
    url: string; // the v2 JSON-RPC URL
    apiKey?: string;
    timeoutMs: number;
}

/** Runs `method` on `address` and returns its stack; throws naming the exit code unless it is 0 or 1 (TVM's two successes). */
export async function runGetMethod(
    endpoint: GetMethodEndpoint,
    address: Address,
    method: string,
    args: TupleItem[],
): Promise<{ stack: TupleReader; gasUsed: bigint }> {
    const body = JSON.stringify({
        id: '1',
        jsonrpc: '2.0',
        method: 'runGetMethod',
        params: { address: address.toString(), method, stack: args.map(stackArg) },
    });
    const headers: Record<string, string> = {
        'content-type': 'application/json',
        ...(endpoint.apiKey ? { 'x-api-key': endpoint.apiKey } : {}),
    };
    const res = await postJson({ url: new URL(endpoint.url) }, body, headers, endpoint.timeoutMs);
    const answer = res.json as { ok?: boolean; result?: { exit_code: number; gas_used: number; stack: unknown[] }; error?: string } | null;
    if (res.status !== 200 || !answer?.ok || !answer.result) {
        throw new Error(`Received error: ${JSON.stringify(answer ?? { status: res.status })}`);
    }
    const { exit_code: exitCode, gas_used: gasUsed, stack } = answer.result;
    // (the same words as TonClient's: a contract's own refusal, not an outage; chain.ts isAnswer)
    if (exitCode !== 0 && exitCode !== 1) throw new Error(`Unable to execute get method. Got exit_code: ${exitCode}`);
    return { stack: new TupleReader(stack.map(topLevelItem)), gasUsed: BigInt(gasUsed ?? 0) };
}

function stackArg(item: TupleItem): [string, string] {
    switch (item.type) {
        case 'int':
            return ['num', item.value.toString()];
        case 'cell':
            return ['tvm.Cell', item.cell.toBoc().toString('base64')];
        case 'slice':
            return ['tvm.Slice', item.cell.toBoc().toString('base64')];
        case 'builder':
            return ['tvm.Builder', item.cell.toBoc().toString('base64')];
        default:
            throw new Error(`a get method argument of type ${item.type} cannot be sent to a toncenter API`);
    }
}

const cellOf = (v: unknown) => Cell.fromBase64(typeof v === 'string' ? v : (v as { bytes: string }).bytes);

function integer(s: string): bigint {
    return s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
}

/** A top-level stack item as toncenter writes it: ["num", "0x.."], ["cell", {bytes}], ["tuple", {elements}], ["null"]... */
export function topLevelItem(raw: unknown): TupleItem {
    if (!Array.isArray(raw) || typeof raw[0] !== 'string') throw new Error(`not a stack item: ${JSON.stringify(raw)}`);
    const [type, value] = raw as [string, unknown];
    switch (type) {
        case 'num':
            return { type: 'int', value: integer(String(value)) };
        case 'null':
            return { type: 'null' };
        case 'cell':
            return { type: 'cell', cell: cellOf(value) };
        case 'slice':
            return { type: 'slice', cell: cellOf(value) };
        case 'builder':
            return { type: 'builder', cell: cellOf(value) };
        case 'tuple':
        case 'list': {
            const elements = (value as { elements: unknown[] }).elements;
            // (an empty list is how the API writes a null)
            if (type === 'list' && elements.length === 0) return { type: 'null' };
            return { type: 'tuple', items: elements.map(entry) };
        }
        default:
            throw new Error(`unsupported stack item type: ${type}`);
    }
}

/** An item inside a tuple, as tonlib writes it: tvm.stackEntryNumber, tvm.stackEntryCell, tvm.stackEntryTuple, ... */
export function entry(raw: unknown): TupleItem {
    const x = raw as Record<string, unknown> & { '@type': string };
    switch (x['@type']) {
        case 'tvm.stackEntryNumber':
            return entry(x.number);
        case 'tvm.numberDecimal':
            return { type: 'int', value: integer(String(x.number)) };
        case 'tvm.stackEntryCell':
            return entry(x.cell);
        case 'tvm.cell':
            return { type: 'cell', cell: cellOf(x.bytes) };
        case 'tvm.stackEntrySlice':
            return entry(x.slice);
        case 'tvm.slice':
            return { type: 'slice', cell: cellOf(x.bytes) };
        case 'tvm.stackEntryTuple':
            return entry(x.tuple);
        case 'tvm.tuple':
            return { type: 'tuple', items: (x.elements as unknown[]).map(entry) };
        case 'tvm.stackEntryList':
            return entry(x.list);
        case 'tvm.list': {
            const elements = x.elements as unknown[];
            return elements.length === 0 ? { type: 'null' } : { type: 'tuple', items: elements.map(entry) };
        }
        default:
            throw new Error(`unsupported stack entry: ${x['@type']}`);
    }
}
