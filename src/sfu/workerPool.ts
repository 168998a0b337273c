/**
 * The mediasoup worker processes: one per core by default. Routers are placed on
 * the least loaded worker. A worker that dies is logged and replaced so later
 * rooms keep working; close() is idempotent and leaves no child process.
 */
import type { types } from 'mediasoup';
import { loadMediasoup, routerMediaCodecs } from './mediasoup';
import type { MediasoupConfig } from '../config';
import { createLogger } from '../log';
import { InvalidStateError } from '../errors';

const log = createLogger('sfu');

interface Slot {
  worker: types.Worker;
  routers: number;
}

export class WorkerPool {
  private slots: Slot[] = [];
  private closed = false;

  constructor(private readonly cfg: MediasoupConfig) {}

  async start(): Promise<void> {
    const n = this.cfg.numWorkers;
    for (let i = 0; i < n; i++) this.slots.push({ worker: await this.spawn(i), routers: 0 });
    log.info('mediasoup workers started', { count: n, pids: this.pids() });
  }

  private async spawn(index: number): Promise<types.Worker> {
    const ms = loadMediasoup();
    // Split the RTC port range between workers so they never compete for a port.
    const span = Math.floor((this.cfg.rtcMaxPort - this.cfg.rtcMinPort + 1) / this.cfg.numWorkers);
    const min = this.cfg.rtcMinPort + index * span;
    const worker = await ms.createWorker({
      logLevel: this.cfg.logLevel,
      rtcMinPort: min,
      rtcMaxPort: min + span - 1,
      appData: { index },
    });
    worker.on('died', (err) => {
      log.error('mediasoup worker died', { pid: worker.pid, error: err });
      if (this.closed) return;
      const slot = this.slots.find((s) => s.worker === worker);
      if (!slot) return;
      this.spawn(index).then(
        (w) => {
          if (this.closed) w.close();
          else slot.worker = w;
          slot.routers = 0;
        },
        (e) => log.error('mediasoup worker respawn failed', { error: e }),
      );
    });
    return worker;
  }

  pids(): number[] {
    return this.slots.map((s) => s.worker.pid);
  }

  get size(): number {
    return this.slots.length;
  }

  /** Creates a router (Opus, PCMU, PCMA) on the least loaded live worker. */
  async createRouter(appData: Record<string, unknown> = {}): Promise<types.Router> {
    if (this.closed) throw new InvalidStateError('SfuClosed', 'the SFU is shutting down');
    const live = this.slots.filter((s) => !s.worker.closed);
    if (!live.length) throw new InvalidStateError('SfuUnavailable', 'no mediasoup worker is running');
    const slot = live.reduce((a, b) => (b.routers < a.routers ? b : a));
    const router = await slot.worker.createRouter({ mediaCodecs: routerMediaCodecs, appData });
    slot.routers++;
    router.observer.once('close', () => {
      slot.routers = Math.max(0, slot.routers - 1);
    });
    return router;
  }

  /** Closes every worker and waits until their processes have exited. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pids = this.pids();
    for (const s of this.slots) s.worker.close();
    this.slots = [];
    await waitForExit(pids, 3000);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForExit(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const pid of pids.filter(alive)) {
    log.warn('mediasoup worker did not exit, killing', { pid });
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
