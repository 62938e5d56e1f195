/**
 * What the KernelEsp property tests drive it with: any sequence of the EspTarget calls the IPsec
 * runtime makes (outbound and inbound SAs set and deleted, peers protected and not), over a few
 * peers and SPIs so that calls collide.
 */
import fc from 'fast-check';
import type { EspSa, EspSaKeys } from '../../platform/native/esp.js';
import type { KernelEsp } from '../../daemon/kernel-esp.js';

export type EspOp =
  | { readonly k: 'out'; readonly peer: string; readonly spi: number }
  | { readonly k: 'in'; readonly peer: string; readonly spi: number }
  | { readonly k: 'delOut'; readonly peer: string }
  | { readonly k: 'delIn'; readonly spi: number }
  | { readonly k: 'protect'; readonly peer: string; readonly on: boolean };

export function espOp(peers: readonly string[]): fc.Arbitrary<EspOp> {
  return fc.oneof(
    fc.record({ k: fc.constant('out' as const), peer: fc.constantFrom(...peers), spi: fc.integer({ min: 0x100, max: 0x104 }) }),
    fc.record({ k: fc.constant('in' as const), peer: fc.constantFrom(...peers), spi: fc.integer({ min: 0x100, max: 0x106 }) }),
    fc.record({ k: fc.constant('delOut' as const), peer: fc.constantFrom(...peers) }),
    fc.record({ k: fc.constant('delIn' as const), spi: fc.integer({ min: 0x100, max: 0x106 }) }),
    fc.record({ k: fc.constant('protect' as const), peer: fc.constantFrom(...peers), on: fc.boolean() }),
  );
}

/** The calls, in order: outbound SAs with `outKeys`, inbound ones with `inKeys`. */
export function applyEspOps(esp: KernelEsp, ops: readonly EspOp[], outKeys: EspSaKeys, inKeys: EspSaKeys): void {
  for (const o of ops) {
    if (o.k === 'out') esp.setOutboundSa(o.peer, { spi: o.spi, ...outKeys } as EspSa);
    else if (o.k === 'in') esp.setInboundSa(o.spi, inKeys, o.peer);
    else if (o.k === 'delOut') esp.deleteOutboundSa(o.peer);
    else if (o.k === 'delIn') esp.deleteInboundSa(o.spi);
    else esp.setProtected(o.peer, o.on);
  }
}
