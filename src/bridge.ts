/**
 * The running bridge: the mediasoup worker pool, the HTTP server (control API,
 * health, signaling upgrade) and, as they land, the agent sessions. start() and
 * stop() are the whole lifecycle; stop() is idempotent and leaves no child process.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BridgeConfig } from './config';
import { WorkerPool } from './sfu/workerPool';
import { ControlApi } from './server/controlApi';
import { SignalingServer, SIGNALING_PATH } from './server/signaling';
import { createLogger } from './log';
import { nativeAddon } from './native/addon';
import { AgentManager } from './agent/agentManager';
import { LATENESS_BUCKETS_MS, sharedClock } from './agent/frameClock';
import { nativePacer, PACER_LATENESS_BOUNDS_MS, pacerTotals, requestPacerPriority } from './sfu/pacedRtp';
import { requestVoiceRxPriority, voiceRxTotals } from './sfu/voiceRx';
import { registerAgentActions } from './server/agentActions';
import { MediaStreamServer, MEDIA_STREAM_PATH } from './transports/mediaStream';
import { AudioSocketServer } from './transports/audioSocket';
import { pacedStreamDrops } from './transports/pacedStream';
import { SipUserAgent } from './sip/userAgent';
import { signToken } from './auth/tokens';
import { createVadStream } from './agent/vadFactory';
import { VadTapSet } from './agent/vadTap';
import { RoomManager } from './rooms/roomManager';
import { registerRoomActions } from './rooms/roomActions';
import { WebRoutes, demoEnabled } from './rooms/webRoutes';
import { BridgeMetrics, observeAgents } from './metrics';

const log = createLogger('bridge');
export const VERSION: string = (require('../package.json') as { version: string }).version;

export class Bridge {
  readonly workers: WorkerPool;
  readonly api: ControlApi;
  readonly agents: AgentManager;
  readonly metrics: BridgeMetrics;
  readonly rooms: RoomManager;
  private readonly signaling: SignalingServer;
  private readonly web: WebRoutes;
  private readonly media: MediaStreamServer;
  /** Telephony: SIP user agent and AudioSocket server (null when disabled in config). */
  readonly sip: SipUserAgent | null;
  readonly audioSocket: AudioSocketServer | null;
  private server?: http.Server;
  private startedAt = 0;
  private stopping?: Promise<void>;

  constructor(readonly config: BridgeConfig) {
    this.workers = new WorkerPool(config.mediasoup);
    requestPacerPriority(config.pacerPriority);
    requestVoiceRxPriority(config.voiceThreadPriority);
    this.api = new ControlApi(config.apiKey);
    const taps = config.vadTapDir ? new VadTapSet(config.vadTapDir, config.vadTapRooms) : null;
    if (taps) log.warn('recording the barge-in detector input', { dir: config.vadTapDir, rooms: config.vadTapRooms });
    this.agents = new AgentManager({
      maxSessions: config.maxSessions,
      deps: {
        clock: sharedClock,
        createVad: createVadStream,
        audioAheadMs: config.agentAudioLeadMs > 0 ? config.agentAudioAheadMs : 0,
        tokenSecretSign: (claims) => signToken(config.tokenSecret, claims),
        openVadTap: taps ? (h) => taps.open(h) : undefined,
      },
    });
    this.metrics = new BridgeMetrics({
      sessions: () => this.agents.activeCount,
      clockTicks: () => sharedClock.stats.ticks,
      clockLate: () => sharedClock.stats.late,
      clockLateness: { buckets: LATENESS_BUCKETS_MS, read: () => ({ counts: sharedClock.stats.lateness, sum: sharedClock.stats.latenessSumMs }) },
      clockHeld: () => sharedClock.stats.held,
      longHolds: () => sharedClock.stats.longHolds,
      paced: pacerTotals,
      pacedBucketsMs: PACER_LATENESS_BOUNDS_MS,
      pacerPriority: () => nativePacer()?.priority() ?? -1,
      pacerStepAsides: () => nativePacer()?.stepAsides() ?? [0, 0],
      voiceRx: voiceRxTotals,
      pacedStreamDrops,
    });
    observeAgents(this.agents, this.metrics);
    registerAgentActions(this.api, this.agents, { publicUrl: () => this.url, sip: () => this.sip });
    this.rooms = new RoomManager({ workers: this.workers, agents: this.agents, mediasoup: config.mediasoup, createVad: createVadStream, agentAudioLeadMs: config.agentAudioLeadMs, voiceThread: config.roomVoiceInput === 'thread' });
    this.signaling = new SignalingServer({ rooms: this.rooms, agents: this.agents, tokenSecret: config.tokenSecret });
    this.web = new WebRoutes({ agents: this.agents, tokenSecret: config.tokenSecret, demo: demoEnabled(config.host, config.demo) });
    registerRoomActions(this.api, { agents: this.agents, tokenSecret: config.tokenSecret, publicUrl: () => this.url });
    const tel = config.telephony;
    this.media = new MediaStreamServer({ agents: this.agents, apiKey: config.apiKey, tokenSecret: config.tokenSecret, createVad: createVadStream, storedAgents: tel.agents, agentAudioLeadMs: config.agentAudioLeadMs });
    this.sip = tel.sip.enabled
      ? new SipUserAgent({ settings: tel.sip, agents: this.agents, storedAgents: tel.agents, workers: this.workers, mediaListenIp: config.mediasoup.listenIp, agentAudioLeadMs: config.agentAudioLeadMs })
      : null;
    this.audioSocket = tel.audioSocket.enabled
      ? new AudioSocketServer({ agents: this.agents, storedAgents: tel.agents, agent: tel.audioSocket.agent, host: tel.audioSocket.host, port: tel.audioSocket.port, agentAudioLeadMs: config.agentAudioLeadMs })
      : null;
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    await this.workers.start();
    const server = http.createServer((req, res) => this.route(req, res));
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === SIGNALING_PATH) this.signaling.handleUpgrade(req, socket, head);
      else if (url.pathname === MEDIA_STREAM_PATH) this.media.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    server.keepAliveTimeout = 5000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await this.sip?.start();
    await this.audioSocket?.start();
    log.info('voxbridge started', { sipPort: this.sip?.port, audioSocketPort: this.audioSocket?.port, url: this.url, version: VERSION, native: nativeAddon() !== null });
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get url(): string {
    const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
    return `http://${host}:${this.port}`;
  }

  health(): Record<string, unknown> {
    return {
      status: this.stopping ? 'stopping' : 'ok',
      version: VERSION,
      uptimeSec: +((Date.now() - this.startedAt) / 1000).toFixed(3),
      workers: this.workers.pids().map((pid) => ({ pid })),
      sessions: this.agents.activeCount,
      telephony: { sipPort: this.sip?.port ?? null, sipCalls: this.sip?.activeCalls ?? 0, audioSocketPort: this.audioSocket?.port ?? null },
      nativeAddon: nativeAddon() !== null,
    };
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api') {
      void this.api.handle(req, res, url);
      return;
    }
    if (url.pathname === '/metrics' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(this.metrics.registry.render());
      return;
    }
    if (url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      const body = JSON.stringify(this.health());
      res.writeHead(this.stopping ? 503 : 200, { 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (this.web.handle(req, res, url)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ Code: 'NotFound', Message: `no route for ${req.method} ${url.pathname}` }));
  }

  /** Graceful: stop accepting, close sockets, close workers (and wait for their exit). */
  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    log.info('voxbridge stopping');
    // Calls first: BYE goes out while mediasoup and the sockets are still up.
    await this.sip?.stop();
    await this.audioSocket?.close();
    this.agents.stopAll('shutdown');
    this.signaling.close();
    this.rooms.close();
    this.media.close();
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 1000).unref();
      await closed;
    }
    await this.workers.close();
    log.info('voxbridge stopped');
  }
}
