/**
 * The layer rule of the design: protocols/ is pure protocol logic. It may not
 * import Node I/O modules, nor platform/linux or platform/native, and it may not
 * read the clock or arm timers (time is passed in). Run as `npm run lint`
 * (also part of `npm test`).
 */
import ts from 'typescript';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Node modules that do I/O or touch the host; `node:crypto` and `node:buffer` are allowed. */
export const FORBIDDEN_MODULES = new Set([
  'fs', 'fs/promises', 'net', 'dgram', 'child_process', 'http', 'http2', 'https', 'tls', 'dns', 'dns/promises',
  'os', 'cluster', 'worker_threads', 'readline', 'tty', 'inspector', 'process', 'timers', 'timers/promises',
  'perf_hooks', 'v8', 'vm', 'module', 'repl', 'stream', 'stream/promises', 'zlib', 'diagnostics_channel',
]);

/** Identifiers whose use means reading the clock or scheduling: time must be passed in. */
const FORBIDDEN_CALLS = ['Date.now', 'performance.now', 'setTimeout', 'setInterval', 'setImmediate', 'process.hrtime', 'new Date'];

export interface LintFinding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export function checkProtocolSource(file: string, text: string, projectRoot: string): LintFinding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: LintFinding[] = [];
  const at = (node: ts.Node, message: string): void => {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    out.push({ file, line: line + 1, column: character + 1, message });
  };
  const checkSpecifier = (node: ts.Node, spec: string): void => {
    const bare = spec.startsWith('node:') ? spec.slice(5) : spec;
    if (FORBIDDEN_MODULES.has(bare)) {
      at(node, `protocols/ must not import the I/O module "${spec}"`);
      return;
    }
    if (spec.startsWith('.')) {
      const target = relative(projectRoot, resolve(dirname(file), spec)).split(sep).join('/');
      if (target.startsWith('platform/linux') || target.startsWith('platform/native')) {
        at(node, `protocols/ must not import ${target} (talk to platform/ports.ts instead)`);
      } else if (target.startsWith('daemon/')) {
        at(node, `protocols/ must not import the daemon (${target})`);
      }
    }
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      checkSpecifier(node, node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = node.arguments[0];
      if (a && ts.isStringLiteral(a)) checkSpecifier(node, a.text);
      else at(node, 'protocols/ must not use dynamic import with a computed specifier');
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
      at(node, 'protocols/ must not use require()');
    }
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
      const callee = node.expression.getText(sf);
      const name = ts.isNewExpression(node) ? `new ${callee}` : callee;
      if (FORBIDDEN_CALLS.includes(name) && !(ts.isNewExpression(node) && (node.arguments?.length ?? 0) > 0)) {
        at(node, `protocols/ must not call ${name}: time is passed in by the daemon`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function walk(dir: string, acc: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) acc.push(p);
  }
  return acc;
}

export function lintProject(projectRoot: string): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const file of walk(join(projectRoot, 'protocols'))) {
    findings.push(...checkProtocolSource(file, readFileSync(file, 'utf8'), projectRoot));
  }
  return findings;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const findings = lintProject(root);
  for (const f of findings) console.error(`${relative(root, f.file)}:${f.line}:${f.column}: ${f.message}`);
  if (findings.length > 0) {
    console.error(`lint: ${findings.length} layer violation(s)`);
    process.exit(1);
  }
  console.log('lint: protocols/ is free of I/O, platform and clock access');
}
