/**
 * Logging: pino, one JSON object per line on stderr (journald keeps it), or a
 * short text form for people running the daemon by hand (--log-format text).
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;
export type LogFormat = 'json' | 'text';

export function createLogger(opts: { level?: string; format?: LogFormat; name?: string } = {}): Logger {
  const level = opts.level ?? process.env.DMVPN_LOG_LEVEL ?? 'info';
  if (opts.format === 'text') {
    // A synchronous text line writer: "12:00:01.234 INFO nhrp: message key=value".
    const names: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
    const stream = {
      write(line: string): void {
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          const { level: lv, time, msg, name, pid: _p, hostname: _h, ...rest } = o;
          const t = new Date(Number(time)).toISOString().slice(11, 23);
          const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
          process.stderr.write(`${t} ${names[Number(lv)] ?? lv} ${name ? `${String(name)}: ` : ''}${String(msg ?? '')}${extra ? ` ${extra}` : ''}\n`);
        } catch {
          process.stderr.write(line);
        }
      },
    };
    return pino({ level, name: opts.name, base: undefined }, stream);
  }
  return pino({ level, name: opts.name, base: undefined }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything (tests, --check). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
