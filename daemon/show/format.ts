/** Small formatting helpers shared by the IOS-layout show commands. */

/** IOS uptime: hh:mm:ss below a day, then 1d02h, then 2w3d. */
export function iosUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  if (d >= 7) return `${Math.floor(d / 7)}w${d % 7}d`;
  const h = Math.floor((s % 86400) / 3600);
  if (d > 0) return `${d}d${String(h).padStart(2, '0')}h`;
  const m = Math.floor((s % 3600) / 60);
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export const lpad = (s: string | number, n: number): string => String(s).padStart(n);
export const rpad = (s: string | number, n: number): string => String(s).padEnd(n);

/** IOS short interface names: Tunnel0 -> Tu0. */
export function shortIfName(name: string): string {
  const m = /^Tunnel(\d+)$/i.exec(name);
  return m ? `Tu${m[1]}` : name;
}
