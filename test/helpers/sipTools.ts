/**
 * Real SIP peers from Debian for the telephony tests: SIPp (sip-tester) and
 * baresip, run as child processes in a temporary directory of their own, with
 * free local ports and their output kept for the failure message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SIPP_PCAPS = '/usr/share/sip-tester';

export function toolAvailable(bin: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => fs.existsSync(path.join(d, bin)));
}

/** A free UDP port on 127.0.0.1 (even, with the next one free too, for RTP/RTCP habits). */
export async function freeUdpPort(): Promise<number> {
  for (;;) {
    const s = dgram.createSocket('udp4');
    const port = await new Promise<number>((r) => s.bind(0, '127.0.0.1', () => r(s.address().port)));
    s.close();
    if (port % 2 === 0 && port < 65000) return port;
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `voxbridge-${prefix}-`));
}

export interface ToolRun {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

export function run(bin: string, args: string[], cwd: string): ToolRun {
  const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (d) => output.push(String(d)));
  child.stderr!.on('data', (d) => output.push(String(d)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output, exited };
}

/** A working directory for SIPp with `pcap/` holding the pcaps SIPp ships (its stock scenarios refer to them so). */
export function sippDir(): string {
  const dir = tempDir('sipp');
  fs.symlinkSync(SIPP_PCAPS, path.join(dir, 'pcap'));
  return dir;
}

/** SIPp's final statistics: successful and failed call counts. */
export function sippCounts(output: string[]): { successful: number; failed: number } {
  const text = output.join('');
  const num = (label: string): number => {
    const m = new RegExp(`${label}\\s*\\|[^|]*\\|\\s*(\\d+)`).exec(text);
    return m ? Number(m[1]) : -1;
  };
  return { successful: num('Successful call'), failed: num('Failed call') };
}
