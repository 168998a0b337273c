import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Runs a bash script (a native test's build-and-run) in its own TMPDIR, without
 * blocking the worker: a build that takes a minute under spawnSync makes the worker
 * miss vitest's messages ("Timeout calling onTaskUpdate"). Returns the exit status and
 * stdout + stderr; the script is killed after `timeoutMs`.
 */
export async function runScript(script: string, timeoutMs: number): Promise<{ status: number | null; out: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxbridge-script-'));
  try {
    const child = spawn('bash', [script], { env: { ...process.env, TMPDIR: dir } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(timer);
    return { status, out };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
