// protocol/progress.ts: what a long wait prints on a terminal, on a plain stream, in a daemon's log
// and in quiet mode, character for character.
import { logOutput, progress, quietFromEnv, streamOutput, withProgress } from '../protocol/progress';

// A stream that records what was written; `isTTY` as given.
function fakeStream(isTTY: boolean) {
    const written: string[] = [];
    return { stream: { isTTY, write: (t: string) => void written.push(t) }, written };
}

describe('progress', () => {
    let clock: number;
    const now = () => clock;
    const noEnv = {};

    beforeEach(() => {
        jest.useFakeTimers();
        clock = 1_000_000;
    });
    afterEach(() => jest.useRealTimers());

    it('on a terminal, redraws one spinner line with what is waited for and the seconds, then clears it', () => {
        const { stream, written } = fakeStream(true);
        const p = progress('waiting for Root to process AddVerifier', { output: streamOutput(stream), env: noEnv, now });
        expect(written).toEqual(['\r\x1b[2K⠋ waiting for Root to process AddVerifier… 0 s']);
        clock += 12_000;
        p.update('seqno 5');
        jest.advanceTimersByTime(100);
        expect(written[1]).toBe('\r\x1b[2K⠙ waiting for Root to process AddVerifier: seqno 5… 12 s');
        p.succeed();
        expect(written.slice(2)).toEqual(['\r\x1b[2K']); // cleared, nothing left behind
        jest.advanceTimersByTime(1000);
        expect(written).toHaveLength(3); // no redraw after the end
    });

    it('on a terminal, a success message stays after the spinner is cleared', () => {
        const { stream, written } = fakeStream(true);
        const p = progress('deploying', { output: streamOutput(stream), env: noEnv, now });
        clock += 3_500;
        p.succeed('deployed');
        expect(written.slice(1)).toEqual(['\r\x1b[2K', 'deployed (3 s)\n']);
    });

    it('elsewhere, prints one plain line when the wait starts and one when it ends, with no control characters', () => {
        const { stream, written } = fakeStream(false);
        const p = progress('waiting for Root to process AddVerifier', { output: streamOutput(stream), env: noEnv, now });
        clock += 5_000;
        p.update('seqno 5');
        jest.advanceTimersByTime(60_000);
        clock += 7_000;
        p.succeed();
        p.succeed('again'); // (only the first end counts)
        expect(written).toEqual(['waiting for Root to process AddVerifier…\n', 'waiting for Root to process AddVerifier: done (12 s)\n']);
        expect(written.join('')).not.toMatch(/[\r\x1b]/);
    });

    it('elsewhere, a failure ends the wait with its message', () => {
        const { stream, written } = fakeStream(false);
        const p = progress('waiting for the multisig', { output: streamOutput(stream), env: noEnv, now });
        clock += 60_000;
        p.fail('no new transaction at the multisig');
        p.succeed();
        expect(written).toEqual(['waiting for the multisig…\n', 'no new transaction at the multisig (60 s)\n']);
    });

    it.each([
        ['--quiet', { quiet: true, env: noEnv }],
        ['COCOON_QUIET=1', { env: { COCOON_QUIET: '1' } }],
    ])('with %s prints nothing, on a terminal or not, except a failure', (_, quietness) => {
        for (const tty of [true, false]) {
            const { stream, written } = fakeStream(tty);
            const ok = progress('waiting', { output: streamOutput(stream), now, ...quietness });
            jest.advanceTimersByTime(5_000);
            ok.update('still');
            ok.succeed('done');
            expect(written).toEqual([]);
            const bad = progress('waiting', { output: streamOutput(stream), now, ...quietness });
            clock += 2_000;
            bad.fail('it failed');
            expect(written).toEqual(['it failed (2 s)\n']);
            clock = 1_000_000;
        }
    });

    it('reads COCOON_QUIET as 1 or true, nothing else', () => {
        expect(quietFromEnv({ COCOON_QUIET: '1' })).toBe(true);
        expect(quietFromEnv({ COCOON_QUIET: 'TRUE' })).toBe(true);
        expect(quietFromEnv({ COCOON_QUIET: '0' })).toBe(false);
        expect(quietFromEnv({ COCOON_QUIET: '' })).toBe(false);
        expect(quietFromEnv({})).toBe(false);
    });

    it("in a daemon's log, says what it waits for every period while the wait lasts, and nothing for a short wait", () => {
        const lines: string[] = [];
        const quick = progress('first attestation round', { output: logOutput((t) => lines.push(t), 10_000), env: noEnv, now });
        clock += 3_000;
        jest.advanceTimersByTime(3_000);
        quick.succeed();
        expect(lines).toEqual([]);

        const slow = progress('first attestation round', { output: logOutput((t) => lines.push(t), 10_000), env: noEnv, now });
        clock += 10_000;
        jest.advanceTimersByTime(10_000);
        slow.update('the proof submitted');
        clock += 10_000;
        jest.advanceTimersByTime(10_000);
        clock += 4_000;
        slow.succeed();
        expect(lines).toEqual([
            'first attestation round… 10 s',
            'first attestation round: the proof submitted… 20 s',
            'first attestation round: done (24 s)',
        ]);
    });

    it('withProgress shows a failed wait and passes its error on', async () => {
        const { stream, written } = fakeStream(false);
        await expect(
            withProgress(
                'starting the devnet',
                async () => {
                    throw new Error('port in use');
                },
                { output: streamOutput(stream), env: noEnv, now },
            ),
        ).rejects.toThrow('port in use');
        expect(written).toEqual(['starting the devnet…\n', 'starting the devnet: failed (0 s)\n']);
        written.length = 0;
        await expect(withProgress('adding', async () => 2 + 2, { output: streamOutput(stream), env: noEnv, now })).resolves.toBe(4);
        expect(written).toEqual(['adding…\n', 'adding: done (0 s)\n']);
    });
});
