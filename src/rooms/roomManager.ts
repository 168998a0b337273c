/**
 * The rooms of this bridge, by RoomId: a Room (one mediasoup Router) is created
 * when its first participant joins or an agent starts for it, and closed when
 * the last one leaves. Agents join their room as soon as AgentManager starts
 * them ('agentStarted').
 */
import type { AgentManager } from '../agent/agentManager';
import type { AgentSession } from '../agent/session';
import type { MediasoupConfig } from '../config';
import type { WorkerPool } from '../sfu/workerPool';
import { createLogger } from '../log';
import { InvalidStateError } from '../errors';
import { Room, type RoomOptions } from './room';

const log = createLogger('rooms');

export interface RoomManagerOptions {
  workers: WorkerPool;
  agents: AgentManager;
  mediasoup: MediasoupConfig;
  createVad: RoomOptions['createVad'];
  agentAudioLeadMs?: number;
  /** BridgeConfig.roomVoiceInput === 'thread' (default true). */
  voiceThread?: boolean;
}

export class RoomManager {
  private readonly rooms = new Map<string, Promise<Room>>();
  private closed = false;

  constructor(private readonly opts: RoomManagerOptions) {
    opts.agents.on('agentStarted', this.onAgentStarted);
  }

  get size(): number {
    return this.rooms.size;
  }

  /** The room if it exists (or is being created). */
  find(roomId: string): Promise<Room> | undefined {
    return this.rooms.get(roomId);
  }

  get(roomId: string): Promise<Room> {
    if (this.closed) return Promise.reject(new InvalidStateError('SfuClosed', 'the bridge is shutting down'));
    let p = this.rooms.get(roomId);
    if (!p) {
      p = this.create(roomId);
      this.rooms.set(roomId, p);
      p.catch(() => this.rooms.delete(roomId));
    }
    return p;
  }

  private async create(roomId: string): Promise<Room> {
    const router = await this.opts.workers.createRouter({ roomId });
    const room = new Room(roomId, router, {
      listenIp: this.opts.mediasoup.listenIp,
      announcedIp: this.opts.mediasoup.announcedIp,
      createVad: this.opts.createVad,
      agentAudioLeadMs: this.opts.agentAudioLeadMs,
      voiceThread: this.opts.voiceThread,
    });
    room.on('changed', () => {
      if (room.empty) room.close();
    });
    room.once('closed', () => {
      void this.rooms.get(roomId)?.then((r) => r === room && this.rooms.delete(roomId));
      log.info('room closed', { room: roomId });
    });
    log.info('room created', { room: roomId });
    return room;
  }

  private readonly onAgentStarted = (session: AgentSession): void => {
    this.get(session.config.roomId)
      .then((room) => room.addAgent(session))
      .catch((e) => {
        log.error('agent could not join its room', { room: session.config.roomId, agent: session.id, error: e });
        session.end('roomError', 'The agent could not join the room.');
      });
  };

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.agents.off('agentStarted', this.onAgentStarted);
    for (const p of this.rooms.values()) void p.then((r) => r.close(), () => undefined);
    this.rooms.clear();
  }
}
