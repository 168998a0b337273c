/**
 * The machine's stalls during a bench run, from a small real-time C probe
 * (stallProbe.c, built here with the system's cc): wake-ups of a thread that sleeps
 * 1 ms at a time, each more than 5 ms late. A real-time thread is late by that much
 * only when the whole guest is paused (the host took its vCPUs) or the kernel would
 * not preempt; barge-ins whose window holds such a stall are counted apart, so the
 * table can say how much of a tail is the machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Stall {
  /** Wall-clock ms (CLOCK_REALTIME) when the late wake-up came. */
  at: number;
  /** How late it was, ms: the stall covers [at − ms, at]. */
  ms: number;
}

export class StallProbe {
  readonly stalls: Stall[] = [];
  realtime = false;

  private constructor(private readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [a, b] = line.split(' ');
        if (a === 'rt') this.realtime = b === '1';
        else if (a && b) this.stalls.push({ at: Number(a), ms: Number(b) });
      }
    });
  }

  /** Builds (once, into .build/) and starts the probe; null where it cannot be built. */
  static start(root: string): StallProbe | null {
    const src = path.join(root, 'bench/bargein/stallProbe.c');
    const bin = path.join(root, '.build/stall-probe');
    if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) {
      fs.mkdirSync(path.dirname(bin), { recursive: true });
      const r = spawnSync('cc', ['-O2', '-o', bin, src], { encoding: 'utf8' });
      if (r.status !== 0) {
        console.warn(`bench: stall probe not built (${r.stderr || r.error}); machine stalls are not reported`);
        return null;
      }
    }
    return new StallProbe(spawn(bin, [], { stdio: ['ignore', 'pipe', 'inherit'] }));
  }

  /** The stalls of at least `minMs` that overlap [fromMs, toMs] (wall-clock ms). */
  within(fromMs: number, toMs: number, minMs = 10): Stall[] {
    return this.stalls.filter((s) => s.ms >= minMs && s.at > fromMs && s.at - s.ms < toMs);
  }

  close(): void {
    this.child.kill('SIGTERM');
  }
}
