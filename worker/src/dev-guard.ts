// The worker's development mode and where it is refused (cli.ts serve --dev).
import { UsageError } from '../../protocol/cli';
import { TSM_REPORT_DIR, teeKind } from './evidence';

// Where a TDX guest shows itself: configfs-tsm's report directory and the TDX guest device.
export const TDX_GUEST_INTERFACES = [TSM_REPORT_DIR, '/dev/tdx_guest'];

// Development mode lifts the rules on the backend and the GPU evidence, and nothing in a TDX quote
// says it was on: so it is refused where its evidence could pass for production, on mainnet and
// on a machine that produces real TDX quotes.
export function refuseDevModeWhereItCouldPass(
    o: { dev: boolean; network: string; tsm: string; gpuEvidenceCommand?: string },
    guestInterfaces = TDX_GUEST_INTERFACES,
) {
    if (o.gpuEvidenceCommand !== undefined && !o.dev) {
        throw new UsageError(
            '--gpu-evidence-command needs --dev: a production worker runs nvattest itself, so its evidence comes from its own GPUs',
        );
    }
    if (!o.dev) return;
    if (o.network === 'mainnet') throw new UsageError('--dev is refused on mainnet: development mode never serves real clients');
    // (the machine's own TDX interfaces too, whatever --tsm names: on a TDX guest, --dev with
    // --tsm pointed elsewhere would run development rules inside a TD whose quotes are genuine)
    const tdx = [o.tsm, ...guestInterfaces].find((path) => teeKind({ tsmDir: path, allowSimulated: true }) === 'tdx');
    if (tdx) {
        throw new UsageError(
            `--dev is refused on a TDX machine (${tdx} exists): its quotes would look like production while the backend and GPU rules are off; run without --dev`,
        );
    }
}
