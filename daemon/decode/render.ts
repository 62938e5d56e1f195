/**
 * Output forms of a decoded packet:
 * - summaryLine: "3 0.001895 169.254.100.5 → 169.254.100.1 NHRP Registration Reply id=1 code=success"
 * - textLines: the summary line, then the layers indented like `tshark -V`
 * - packetJson: one object per packet, every field named, for `--json` (one per line)
 */
import { renderNode, nodeJson, type Json } from './tree.js';
import type { DecodedPacket } from './model.js';

export function summaryLine(p: DecodedPacket): string {
  const addrs = p.src !== undefined ? ` ${p.src} → ${p.dst}` : '';
  return `${p.index} ${p.relativeTime.toFixed(6)}${addrs} ${p.protocol} ${p.info}`;
}

/** Summary line plus the layer tree (the frame layer first, as tshark -V). */
export function textLines(p: DecodedPacket): string[] {
  const out = [summaryLine(p)];
  for (const layer of p.layers) renderNode(layer, 1, out);
  return out;
}

export function packetJson(p: DecodedPacket): { [k: string]: Json } {
  const layers: Json[] = p.layers.map((l) => {
    const content = nodeJson(l);
    const body = content !== null && typeof content === 'object' && !Array.isArray(content) ? content : { value: content };
    return { layer: l.key, title: l.label, ...body };
  });
  const out: { [k: string]: Json } = {
    frame: p.index,
    time: p.time,
    relativeTime: Number(p.relativeTime.toFixed(9)),
    capturedLength: p.capturedLength,
    wireLength: p.wireLength,
    src: p.src ?? null,
    dst: p.dst ?? null,
    protocol: p.protocol,
    info: p.info,
    dmvpn: p.dmvpn,
  };
  if (p.malformed) out.malformed = { ...p.malformed };
  out.layers = layers;
  return out;
}
