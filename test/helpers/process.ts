import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const root = path.resolve(__dirname, '..', '..');

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface RunningCli {
  child: ChildProcess;
  url: string;
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

/** Starts `bin/voxbridge.js` (the compiled CLI) and waits for its "listening on" line. */
export async function startCli(env: Record<string, string> = {}, args: string[] = []): Promise<RunningCli> {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'voxbridge.js'), ...args], {
    cwd: root,
    env: { ...process.env, VOXBRIDGE_PORT: '0', VOXBRIDGE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stderr!.on('data', (d) => stderr.push(String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, atMs: Date.now() })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`CLI did not start: ${stderr.join('')}`)), 30_000);
    child.stdout!.on('data', (d) => {
      stdout.push(String(d));
      const m = /listening on (http:\/\/\S+)/.exec(stdout.join(''));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`CLI exited early (${e.code}): ${stderr.join('')}`));
    });
  });
  return { child, url, stdout, stderr, exited };
}
