// What a long wait shows while it lasts (a deploy, a message waiting for its transaction, a
// wallet's seqno, an attestation round), the same way in every script and command line:
// - on a terminal, a spinner line with what is waited for and the seconds so far, redrawn in
//   place and cleared at the end;
// - elsewhere (CI, a pipe), one plain line when the wait starts and one when it ends, with no
//   control characters, so that logs stay readable;
// - in a daemon's log, a line only every `everyMs` while the wait lasts (quick waits stay silent);
// - in quiet mode (`--quiet`, or COCOON_QUIET=1), nothing but failures.
// No dependency: a spinner is a dozen lines, and a library would draw on stderr behind the back
// of Blueprint's own bottom bar (see scripts/lib/send.ts scriptOutput).

/** A wait being shown; the first `succeed` or `fail` ends it, later calls are ignored. */
export interface Progress {
    /** What the wait is at now ("seqno 12", "2 of 3 verifiers"): shown on the spinner line and in periodic lines. */
    update(detail: string): void;
    /** The wait is over: prints `message` with the seconds it took (without one, only a plain or periodic output says it ended). */
    succeed(message?: string): void;
    /** The wait failed: prints `message` with the seconds it took, quiet or not. */
    fail(message: string): void;
}

/** Where progress goes: a terminal that can redraw a line, a plain stream, a log or a Blueprint UI. */
export interface ProgressOutput {
    interactive: boolean; // can redraw a line in place
    everyMs?: number; // a log: a line this often while the wait lasts, none for a shorter wait
    line(text: string): void; // one whole line
    draw(text: string): void; // replaces the line being redrawn (interactive only)
    clear(): void; // removes it (interactive only)
}

/** A stream's output (stderr by default): interactive when it is a TTY. */
export function streamOutput(stream: { write(text: string): unknown; isTTY?: boolean } = process.stderr): ProgressOutput {
    return {
        interactive: stream.isTTY === true,
        line: (text) => void stream.write(`${text}\n`),
        draw: (text) => void stream.write(`\r\x1b[2K${text}`),
        clear: () => void stream.write('\r\x1b[2K'),
    };
}

/** A daemon's log (`log(text)`, e.g. pino's info): a line every `everyMs` while a wait lasts. */
export function logOutput(log: (text: string) => void, everyMs = 10_000): ProgressOutput {
    return { interactive: false, everyMs, line: log, draw: () => {}, clear: () => {} };
}

/** COCOON_QUIET=1 (or true): progress prints nothing but failures. */
export function quietFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
    const v = env.COCOON_QUIET?.trim().toLowerCase();
    return v === '1' || v === 'true';
}

export interface ProgressOptions {
    output?: ProgressOutput; // default: streamOutput(process.stderr)
    quiet?: boolean; // --quiet; COCOON_QUIET=1 in `env` makes it quiet too
    env?: NodeJS.ProcessEnv;
    redrawMs?: number; // spinner frame interval on a terminal (default 100)
    now?: () => number; // milliseconds (tests)
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Starts showing a wait: `what` says what is waited for ("waiting for Root to process AddVerifier"). */
export function progress(what: string, o: ProgressOptions = {}): Progress {
    const output = o.output ?? streamOutput();
    const quiet = o.quiet === true || quietFromEnv(o.env);
    const now = o.now ?? Date.now;
    const start = now();
    const seconds = () => Math.floor((now() - start) / 1000);
    let detail = '';
    let frame = 0;
    let ended = false;
    let periodicLines = 0;
    const current = () => `${what}${detail ? `: ${detail}` : ''}… ${seconds()} s`;

    let timer: NodeJS.Timeout | undefined;
    if (!quiet && output.interactive) {
        const draw = () => output.draw(`${FRAMES[frame++ % FRAMES.length]} ${current()}`);
        draw();
        timer = setInterval(draw, o.redrawMs ?? 100);
    } else if (!quiet && output.everyMs !== undefined) {
        timer = setInterval(() => {
            periodicLines++;
            output.line(current());
        }, output.everyMs);
    } else if (!quiet) {
        output.line(`${what}…`);
    }
    timer?.unref(); // (a wait shown never keeps the process alive)

    const end = (text: string | undefined, failed: boolean) => {
        if (ended) return;
        ended = true;
        if (timer) clearInterval(timer);
        if (!quiet && output.interactive) output.clear();
        if (quiet && !failed) return;
        // (plain output closes its start line; a log closes the periodic lines it printed)
        const closes = !output.interactive && (output.everyMs === undefined || periodicLines > 0);
        const line = text ?? (closes ? `${what}: done` : undefined);
        if (line !== undefined) output.line(`${line} (${seconds()} s)`);
    };
    return {
        update: (d) => {
            if (!ended) detail = d;
        },
        succeed: (message) => end(message, false),
        fail: (message) => end(message, true),
    };
}

/** Runs `work` while showing `what`; when it throws, the wait is shown as failed and the error goes on to the caller, which reports it. */
export async function withProgress<T>(what: string, work: (p: Progress) => Promise<T>, o: ProgressOptions = {}): Promise<T> {
    const p = progress(what, o);
    try {
        const result = await work(p);
        p.succeed();
        return result;
    } catch (e) {
        p.fail(`${what}: failed`);
        throw e;
    }
}
