// Items pushed by one side (a worker reading its backend, an SDK reading a worker) and read in
// order by the other, however far apart the two run: items pushed before the reader asks are
// kept. One reader (a second one is refused). A reader waiting for the next item gets it as soon as it is pushed (resolved
// in the pusher's turn, not after the pusher's later work), which keeps the first chunk of a
// stream as early as it can be.
type Entry<T> = { item: T } | { failure: unknown };

export class AsyncQueue<T> implements AsyncIterable<T> {
    private entries: Entry<T>[] = [];
    private head = 0; // entries before it were read
    private ended = false;
    private wake: (() => void) | undefined;
    private reading = false;

    push(item: T) {
        this.add({ item });
    }

    end() {
        this.ended = true;
        this.notify();
    }

    fail(failure: unknown) {
        this.add({ failure });
        this.end();
    }

    async *[Symbol.asyncIterator](): AsyncIterator<T> {
        // (two readers would each take some of the items, and one would wait forever)
        if (this.reading) throw new Error('an AsyncQueue has one reader');
        this.reading = true;
        for (;;) {
            if (this.head < this.entries.length) {
                const entry = this.entries[this.head++];
                if (this.head > 1024 && this.head * 2 > this.entries.length) {
                    this.entries = this.entries.slice(this.head); // (read entries are let go)
                    this.head = 0;
                }
                if ('failure' in entry) throw entry.failure;
                yield entry.item;
            } else if (this.ended) {
                return;
            } else {
                await new Promise<void>((resolve) => (this.wake = resolve));
            }
        }
    }

    private add(entry: Entry<T>) {
        if (this.ended) return; // (nothing is read after the end)
        this.entries.push(entry);
        this.notify();
    }

    private notify() {
        const wake = this.wake;
        this.wake = undefined;
        wake?.();
    }
}
