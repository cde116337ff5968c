// Get methods through a toncenter v2 API (protocol/get-method.ts): the whole stack is read, nested
// tuples and nulls included, where @ton/ton's TonClient reads only the top level.
import { Address, Cell, beginCell } from '@ton/core';
import { createServer } from 'http';
import { entry, runGetMethod, topLevelItem } from '../../protocol/get-method';

const cell = beginCell().storeUint(7, 8).endCell();
const bytes = cell.toBoc().toString('base64');

describe('toncenter stacks', () => {
    it('reads top-level items: numbers (hex, negative), cells, slices, nulls, tuples', () => {
        expect(topLevelItem(['num', '0x1f'])).toEqual({ type: 'int', value: 31n });
        expect(topLevelItem(['num', '-0x2'])).toEqual({ type: 'int', value: -2n });
        expect(topLevelItem(['num', '12'])).toEqual({ type: 'int', value: 12n });
        expect(topLevelItem(['null'])).toEqual({ type: 'null' });
        expect(topLevelItem(['list', { '@type': 'tvm.list', elements: [] }])).toEqual({ type: 'null' });
        const c = topLevelItem(['cell', { bytes, object: {} }]);
        expect(c.type === 'cell' && c.cell.equals(cell)).toBe(true);
        expect(topLevelItem(['slice', { bytes }]).type).toBe('slice');
        expect(topLevelItem(['tuple', { '@type': 'tvm.tuple', elements: [] }])).toEqual({ type: 'tuple', items: [] });
        expect(() => topLevelItem(['float', '1'])).toThrow('unsupported stack item type: float');
        expect(() => topLevelItem('x')).toThrow('not a stack item');
    });

    it('reads what is inside tuples as stack items, however deep (a struct with a nested struct and a null)', () => {
        const nested = topLevelItem([
            'tuple',
            {
                '@type': 'tvm.tuple',
                elements: [
                    { '@type': 'tvm.stackEntryNumber', number: { '@type': 'tvm.numberDecimal', number: '-5' } },
                    { '@type': 'tvm.stackEntryCell', cell: { '@type': 'tvm.cell', bytes } },
                    { '@type': 'tvm.stackEntrySlice', slice: { '@type': 'tvm.slice', bytes } },
                    { '@type': 'tvm.stackEntryList', list: { '@type': 'tvm.list', elements: [] } },
                    {
                        '@type': 'tvm.stackEntryTuple',
                        tuple: {
                            '@type': 'tvm.tuple',
                            elements: [{ '@type': 'tvm.stackEntryNumber', number: { '@type': 'tvm.numberDecimal', number: '9' } }],
                        },
                    },
                ],
            },
        ]);
        expect(nested.type).toBe('tuple');
        const items = nested.type === 'tuple' ? nested.items : [];
        expect(items[0]).toEqual({ type: 'int', value: -5n });
        expect(items[1].type === 'cell' && items[1].cell.equals(cell)).toBe(true);
        expect(items[2].type).toBe('slice');
        expect(items[3]).toEqual({ type: 'null' });
        expect(items[4]).toEqual({ type: 'tuple', items: [{ type: 'int', value: 9n }] });
        expect(() => entry({ '@type': 'tvm.stackEntryUnsupported' })).toThrow('unsupported stack entry: tvm.stackEntryUnsupported');
        expect(Cell.fromBase64(bytes).equals(cell)).toBe(true);
    });

    it('names what a toncenter API refused, and a get method that failed by its exit code', async () => {
        const answers: unknown[] = [
            { ok: false, error: 'rate limited', code: 429 },
            { ok: true, result: { exit_code: 11, gas_used: 5, stack: [] } },
        ];
        const server = createServer((req, res) => {
            req.resume();
            req.on('end', () => {
                const a = answers.shift() as { code?: number };
                res.statusCode = a.code ?? 200;
                res.end(JSON.stringify(a));
            });
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        const endpoint = { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/jsonRPC`, timeoutMs: 2000 };
        const at = new Address(0, Buffer.alloc(32, 1));
        try {
            await expect(runGetMethod(endpoint, at, 'x', [])).rejects.toThrow(
                'Received error: {"ok":false,"error":"rate limited","code":429}',
            );
            await expect(runGetMethod(endpoint, at, 'x', [])).rejects.toThrow('Unable to execute get method. Got exit_code: 11');
            await expect(runGetMethod(endpoint, at, 'x', [{ type: 'null' }])).rejects.toThrow(
                'a get method argument of type null cannot be sent to a toncenter API',
            );
        } finally {
            server.close();
        }
    });
});
