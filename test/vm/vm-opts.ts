/**
 * The gate every VM test shares: the host tools it needs and the VM kernel (scripts/vm/setup.sh).
 * Outside CI a missing one skips the test and says why; in CI (CI=true) a missing kernel fails it,
 * as a missing tool does in needsTool.
 */
import { kernelReady } from '../../scripts/vm/kernel.js';
import { needsTool } from '../support/tools.js';

export function needsVm(...tools: string[]): { skip?: string } {
  const found = needsTool('qemu-system-x86_64', ...tools);
  if (found.skip !== undefined) return found;
  if (!kernelReady()) {
    if (process.env.CI === 'true') throw new Error('no VM kernel in CI: .ci/run must run scripts/vm/setup.sh');
    return { skip: 'needs the VM kernel (run scripts/vm/setup.sh as root)' };
  }
  return {};
}
