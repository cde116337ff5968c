// Where the worker's development mode is refused (worker/src/dev-guard.ts): on mainnet, and on a
// machine that produces genuine TDX quotes, whichever --tsm path the operator names.
import { join } from 'path';
import { TDX_GUEST_INTERFACES, refuseDevModeWhereItCouldPass } from '../../worker/src/dev-guard';
import { TSM_REPORT_DIR } from '../../worker/src/evidence';
import { tempDir } from '../tmp';

describe('development mode guard', () => {
    const nowhere = join(tempDir('dev-guard'), 'none');

    it("looks at the machine's own TDX interfaces, not only the --tsm path the operator names", () => {
        expect(TDX_GUEST_INTERFACES).toEqual([TSM_REPORT_DIR, '/dev/tdx_guest']);
        const guest = tempDir('dev-guard-tdx'); // (stands for /dev/tdx_guest on a TDX guest)
        expect(() => refuseDevModeWhereItCouldPass({ dev: true, network: 'testnet', tsm: nowhere }, [nowhere, guest])).toThrow(
            `--dev is refused on a TDX machine (${guest} exists)`,
        );
        expect(() => refuseDevModeWhereItCouldPass({ dev: true, network: 'testnet', tsm: guest }, [nowhere])).toThrow('TDX machine');
        expect(() => refuseDevModeWhereItCouldPass({ dev: true, network: 'testnet', tsm: nowhere }, [nowhere])).not.toThrow();
        expect(() => refuseDevModeWhereItCouldPass({ dev: false, network: 'testnet', tsm: guest }, [guest])).not.toThrow();
    });

    it('refuses --dev on mainnet, and a GPU evidence command without --dev', () => {
        expect(() => refuseDevModeWhereItCouldPass({ dev: true, network: 'mainnet', tsm: nowhere }, [])).toThrow(
            '--dev is refused on mainnet',
        );
        expect(() => refuseDevModeWhereItCouldPass({ dev: false, network: 'testnet', tsm: nowhere, gpuEvidenceCommand: 'x' }, [])).toThrow(
            '--gpu-evidence-command needs --dev',
        );
    });
});
