/** Shared bench helpers: timing loops, machine description, table and JSON output. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execSync } from 'node:child_process';

export const outDir = path.resolve(__dirname, 'out');

export function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    /* not a git checkout */
  }
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    commit,
    date: new Date().toISOString(),
  };
}

/** Runs fn repeatedly for about `ms`, returns ns per call (median of 5 rounds). */
export function timeIt(fn: () => void, ms = 300): { nsPerOp: number; ops: number } {
  // Warm up (JIT) and calibrate.
  let n = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    const el = Number(process.hrtime.bigint() - t) / 1e6;
    if (el > 20) break;
    n *= 2;
  }
  const per = Math.max(1, Math.round((n * ms) / 5 / 20));
  const rounds: number[] = [];
  let ops = 0;
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < per; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - t) / per);
    ops += per;
  }
  rounds.sort((a, b) => a - b);
  return { nsPerOp: rounds[2], ops };
}

export function table(rows: Record<string, unknown>[]): string {
  if (!rows.length) return '';
  const cols = Object.keys(rows[0]);
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1)) : String(v ?? ''));
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => '| ' + vals.map((v, i) => v.padEnd(w[i])).join(' | ') + ' |';
  return [line(cols), '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|', ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

export function writeJson(name: string, data: unknown): string {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(data, null, 2));
  return file;
}
