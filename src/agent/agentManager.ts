/**
 * The agent instances of this bridge: creation with limits, lookup by
 * AgentInstanceId (or RoomId+TaskId), and removal when they end.
 */
import { EventEmitter } from 'node:events';
import { InvalidParameterError, InvalidStateError } from '../errors';
import { createLogger } from '../log';
import type { AgentConfig } from './agentConfig';
import { AgentSession, type SessionDeps } from './session';
import { createProviders, type Providers } from './providerFactory';

const log = createLogger('agents');

export interface AgentManagerOptions {
  maxSessions: number;
  /** Everything a session needs except its providers. */
  deps: Omit<SessionDeps, 'chat' | 'tts' | 'asr'>;
  /** Overrides provider construction (the bench injects instrumented ones). */
  providers?: (c: AgentConfig) => Providers;
  /** Keep ended sessions this long so DescribeVoiceChat still answers. */
  retainEndedMs?: number;
}

/** Emits 'agentStarted' (session) so transports (rooms) can attach the new agent. */
export class AgentManager extends EventEmitter {
  private readonly sessions = new Map<string, AgentSession>();
  private readonly byTask = new Map<string, string>();

  constructor(private readonly opts: AgentManagerOptions) {
    super();
  }

  get activeCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (!s.ended) n++;
    return n;
  }

  all(): AgentSession[] {
    return [...this.sessions.values()];
  }

  start(config: AgentConfig): AgentSession {
    if (this.activeCount >= this.opts.maxSessions) {
      throw new InvalidStateError('LimitExceeded.Sessions', `the bridge runs at most ${this.opts.maxSessions} agents`, 429);
    }
    const key = `${config.roomId}/${config.taskId}`;
    const existing = this.byTask.get(key);
    if (existing && !this.sessions.get(existing)?.ended) {
      throw new InvalidStateError('InvalidState.TaskExists', `an agent is already running for RoomId ${config.roomId} TaskId ${config.taskId}`);
    }
    const providers = (this.opts.providers ?? createProviders)(config);
    const session = new AgentSession(config, { ...this.opts.deps, ...providers });
    this.sessions.set(session.id, session);
    this.byTask.set(key, session.id);
    session.once('ended', (reason: string) => {
      log.info('agent ended', { agent: session.id, reason });
      const t = setTimeout(() => {
        this.sessions.delete(session.id);
        if (this.byTask.get(key) === session.id) this.byTask.delete(key);
      }, this.opts.retainEndedMs ?? 10 * 60_000);
      t.unref();
    });
    this.emit('agentStarted', session);
    log.info('agent started', { agent: session.id, room: config.roomId, task: config.taskId, llm: providers.chat.kind, tts: providers.tts.kind, asr: providers.asr.kind });
    return session;
  }

  /** Finds by AgentInstanceId, or by RoomId + TaskId (the other services' addressing). */
  find(body: Record<string, unknown>): AgentSession {
    const id = body.AgentInstanceId;
    if (typeof id === 'string' && id) {
      const s = this.sessions.get(id);
      if (!s) throw new InvalidParameterError('InvalidParameter.AgentInstanceId', `no agent instance ${id.slice(0, 80)}`, 404);
      return s;
    }
    if (typeof body.RoomId === 'string' && typeof body.TaskId === 'string') {
      const sid = this.byTask.get(`${body.RoomId}/${body.TaskId}`);
      const s = sid ? this.sessions.get(sid) : undefined;
      if (!s) throw new InvalidParameterError('InvalidParameter.TaskId', `no agent for RoomId ${body.RoomId} TaskId ${body.TaskId}`, 404);
      return s;
    }
    throw new InvalidParameterError('MissingParameter.AgentInstanceId', 'AgentInstanceId (or RoomId and TaskId) is required');
  }

  get(id: string): AgentSession | undefined {
    return this.sessions.get(id);
  }

  stopAll(reason: string): void {
    for (const s of this.sessions.values()) s.end(reason);
  }
}
