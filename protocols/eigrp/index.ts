/**
 * The EIGRP router engine, as the daemon uses it. The codec (packets, TLVs,
 * builders) is protocols/eigrp/wire.ts.
 *
 *   const eigrp = new EigrpInstance(config);
 *   run(eigrp.start(now));                        // hellos out
 *   run(eigrp.setConnected(lans, now));           // networks to advertise
 *   run(eigrp.receive(ifname, src, payload, now)); // each IP protocol 88 packet
 *   run(eigrp.tick(now));                         // at eigrp.nextDeadline()
 */
export { EigrpInstance } from './instance.js';
export {
  normalizeConfig,
  type EigrpAuthConfig,
  type EigrpConfig,
  type EigrpInterfaceSpec,
  type EigrpKey,
  type EigrpNetwork,
  type EigrpRedistributeConfig,
  type EigrpStubConfig,
  type EigrpSummary,
  type NormalizedConfig,
  type RedistributeMetric,
} from './config.js';
export * from './types.js';
export { renderInterfaces, renderNeighbors, renderTopology, renderTraffic, shortIfName, formatUptime } from './show.js';
export { classicMetricOf, classicComposite, wideComposite, ribMetric, type MetricStyle, type MetricVector } from './metric.js';
export type { DualState } from './topology.js';
