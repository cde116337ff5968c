// Work over many items a bounded number at a time: chain reads (an endpoint limits requests per
// second), a worker's claim pass, discovery's provider reads.

/** `f` over `items`, at most `limit` at a time, results in order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, f: (item: T, index: number) => Promise<R>): Promise<R[]> {
    const results = new Array<R>(items.length);
    let next = 0;
    const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
        while (next < items.length) {
            const i = next++;
            results[i] = await f(items[i], i);
        }
    });
    await Promise.all(lanes);
    return results;
}
