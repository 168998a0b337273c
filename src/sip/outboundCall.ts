/**
 * StartAIAgentOutboundCall: the agent calls a phone number through a configured
 * SIP gateway (trunk). Body (PascalCase like the other actions):
 *
 *   { "ToNumber": "+15550100", "Gateway"?: "<trunk name>", "FromNumber"?: "...",
 *     one of "AgentConfig"-style StartVoiceChat fields (RoomId, Config, AgentConfig, TaskId)
 *     or "StoredAgent": "<name in telephony.agents>" }
 *
 * The agent instance is created at once (validated like StartVoiceChat) and its
 * id returned with the SIP Call-ID; it starts listening and speaking when the
 * callee answers. A call that fails (busy, no answer, rejected) ends the agent
 * with reason `callFailed`; StopVoiceChat before the answer sends CANCEL.
 */
import type { AgentManager } from '../agent/agentManager';
import { str } from '../agent/agentConfig';
import { InvalidParameterError, InvalidStateError } from '../errors';
import { startLegAgent } from '../transports/legAgent';
import type { SipUserAgent } from './userAgent';

/** Dialable user part: digits with an optional +, or a SIP user name. */
const NUMBER_PATTERN = /^\+?[0-9A-Za-z_.*#-]{1,64}$/;

export async function startOutboundCall(
  body: Record<string, unknown>,
  agents: AgentManager,
  sip: SipUserAgent | null,
): Promise<Record<string, unknown>> {
  const to = str(body.ToNumber, 'ToNumber', { required: true, max: 64, pattern: NUMBER_PATTERN })!;
  const gateway = str(body.Gateway, 'Gateway', { max: 64 });
  const from = str(body.FromNumber, 'FromNumber', { max: 64, pattern: NUMBER_PATTERN });
  if (!sip) throw new InvalidStateError('InvalidState.SipDisabled', 'the SIP user agent is not enabled (sip.enabled)', 409);
  sip.trunk(gateway); // validates Gateway before an agent is started
  const callId = `out-${Date.now().toString(36)}-${to.replace(/[^0-9A-Za-z]/g, '')}`;
  const { session } = startLegAgent(agents, sip.storedAgents, {
    callId,
    agentConfig: body.StoredAgent === undefined ? body : undefined,
    agent: body.StoredAgent,
    transport: 'sip',
  });
  try {
    const call = await sip.placeCall({ session, to, gateway, fromUser: from });
    return { AgentInstanceId: session.id, RoomId: session.config.roomId, TaskId: session.config.taskId, CallId: call.id, Gateway: sip.trunk(gateway).name, ToNumber: to, State: 'calling' };
  } catch (e) {
    session.end('callFailed', 'The call could not be placed.');
    if (e instanceof InvalidParameterError || e instanceof InvalidStateError) throw e;
    throw new InvalidStateError('SipCallFailed', `the call could not be placed: ${(e as Error).message}`, 503);
  }
}
