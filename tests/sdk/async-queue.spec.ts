// protocol/async-queue.ts: what a stream's chunks go through, in the worker and in the SDK.
import { AsyncQueue } from '../../protocol/async-queue';

async function readAll<T>(q: AsyncQueue<T>): Promise<T[]> {
    const out: T[] = [];
    for await (const item of q) out.push(item);
    return out;
}

describe('AsyncQueue', () => {
    it('gives one reader every item in order, pushed before or while it reads, then the end', async () => {
        const q = new AsyncQueue<number>();
        for (let i = 0; i < 3000; i++) q.push(i); // before the reader (and past the compaction point)
        const reading = readAll(q);
        for (let i = 3000; i < 5000; i++) {
            q.push(i);
            if (i % 100 === 0) await new Promise((r) => setImmediate(r));
        }
        q.end();
        q.push(-1); // (after the end: dropped)
        expect(await reading).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    });

    it('hands a waiting reader the item as soon as it is pushed', async () => {
        const q = new AsyncQueue<string>();
        const it = q[Symbol.asyncIterator]();
        const next = it.next();
        q.push('first');
        expect(await next).toEqual({ value: 'first', done: false });
        q.end();
        expect(await it.next()).toEqual({ value: undefined, done: true });
    });

    it('throws a failure after the items before it, and refuses a second reader', async () => {
        const q = new AsyncQueue<number>();
        q.push(1);
        q.push(2);
        q.fail(new Error('the backend broke off'));
        const seen: number[] = [];
        await expect(
            (async () => {
                for await (const x of q) seen.push(x);
            })(),
        ).rejects.toThrow('the backend broke off');
        expect(seen).toEqual([1, 2]);
        await expect(readAll(q)).rejects.toThrow('one reader');
    });
});
