// Items pushed by one side (a worker reading its backend, an SDK reading a worker) and read in
// order by the other, however far apart the two run: a Readable in object mode buffers them. The
// reader gets every item pushed before end() or fail(), then the end or the failure.
import { Readable } from 'stream';

type Entry<T> = { item: T } | { failure: unknown };

export class AsyncQueue<T> implements AsyncIterable<T> {
    private readonly buffer = new Readable({ objectMode: true, read() {} });

    push(item: T) {
        this.buffer.push({ item } satisfies Entry<T>);
    }

    end() {
        this.buffer.push(null);
    }

    fail(failure: unknown) {
        this.buffer.push({ failure } satisfies Entry<T>);
        this.buffer.push(null);
    }

    async *[Symbol.asyncIterator](): AsyncIterator<T> {
        for await (const entry of this.buffer as AsyncIterable<Entry<T>>) {
            if ('failure' in entry) throw entry.failure;
            yield entry.item;
        }
    }
}
