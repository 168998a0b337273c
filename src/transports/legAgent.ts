/**
 * Which agent answers a phone leg: an agent that is already running (its
 * AgentInstanceId), an inline StartVoiceChat-style config, or a stored config
 * named in the bridge configuration (`telephony.agents`). Inline and stored
 * configs are validated by the same parser as StartVoiceChat and started through
 * the AgentManager, so limits and errors are the control API's.
 */
import { parseStartVoiceChat, ID_PATTERN } from '../agent/agentConfig';
import type { AgentManager } from '../agent/agentManager';
import type { AgentSession } from '../agent/session';
import { InvalidParameterError } from '../errors';

export interface LegAgentRequest {
  /** Call id of the leg (becomes the RoomId unless the config names one). */
  callId: string;
  agentInstanceId?: unknown;
  agentConfig?: unknown;
  /** Name of a stored agent config. */
  agent?: unknown;
  /** Transport name for the TaskId (`sip`, `ws`, `audiosocket`). */
  transport: string;
}

export interface LegAgent {
  session: AgentSession;
  /** True when this leg started the agent (and its hang-up ends it). */
  started: boolean;
}

/** Makes a call id usable as a RoomId (ID_PATTERN), keeping it recognisable. */
export function roomIdFor(callId: string): string {
  const clean = callId.replace(/[^A-Za-z0-9_.@:-]/g, '_').slice(0, 100);
  return `call-${clean || 'anonymous'}`;
}

export function startLegAgent(
  agents: AgentManager,
  stored: Record<string, Record<string, unknown>>,
  req: LegAgentRequest,
): LegAgent {
  if (req.agentInstanceId !== undefined && req.agentInstanceId !== null && req.agentInstanceId !== '') {
    const s = agents.find({ AgentInstanceId: req.agentInstanceId });
    if (s.ended) throw new InvalidParameterError('InvalidParameter.AgentInstanceId', `agent ${s.id} has ended`, 409);
    return { session: s, started: false };
  }
  let body: Record<string, unknown>;
  if (req.agentConfig !== undefined && req.agentConfig !== null) {
    if (typeof req.agentConfig !== 'object' || Array.isArray(req.agentConfig)) {
      throw new InvalidParameterError('InvalidParameter.AgentConfig', 'agentConfig must be a StartVoiceChat-style object');
    }
    body = req.agentConfig as Record<string, unknown>;
  } else {
    const name = req.agent ?? Object.keys(stored)[0];
    if (typeof name !== 'string' || !stored[name]) {
      throw new InvalidParameterError('InvalidParameter.Agent', `no stored agent ${JSON.stringify(name)}; known: ${Object.keys(stored).join(', ') || '(none)'}`, 404);
    }
    body = stored[name];
  }
  const roomId = typeof body.RoomId === 'string' && ID_PATTERN.test(body.RoomId) ? body.RoomId : roomIdFor(req.callId);
  const config = parseStartVoiceChat({ ...body, RoomId: roomId, TaskId: body.TaskId ?? `${req.transport}-${roomIdFor(req.callId).slice(5, 80)}` });
  return { session: agents.start(config), started: true };
}
