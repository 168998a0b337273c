/**
 * The agent actions of the control API: StartVoiceChat, StopVoiceChat,
 * DescribeVoiceChat, UpdateVoiceChat (interrupt), SendAgentInstanceLLM,
 * SendAgentInstanceTTS, TakeoverAIAgentCall. Validation here names the field in
 * the error Code; behaviour lives in the session.
 */
import { InvalidParameterError } from '../errors';
import type { AgentManager } from '../agent/agentManager';
import { bool, ID_PATTERN, num, parseStartVoiceChat, priorityOf, samePriorityOf, str } from '../agent/agentConfig';
import type { ControlApi } from './controlApi';
import { startOutboundCall } from '../sip/outboundCall';
import type { SipUserAgent } from '../sip/userAgent';

export const MAX_TTS_TEXT = 300;
export const MAX_LLM_TEXT = 4000;

export function registerAgentActions(api: ControlApi, agents: AgentManager, info: { publicUrl: () => string; sip?: () => SipUserAgent | null }): void {
  api.register('StartVoiceChat', (body) => {
    const config = parseStartVoiceChat(body);
    const s = agents.start(config);
    return { AgentInstanceId: s.id, RoomId: config.roomId, TaskId: config.taskId, MediaStreamUrl: `${info.publicUrl().replace(/^http/, 'ws')}/ws/media` };
  });

  api.register('StopVoiceChat', (body) => {
    const s = agents.find(body);
    s.end('stopped', 'The agent was stopped by the service.');
    return { AgentInstanceId: s.id, State: s.state };
  });

  api.register('DescribeVoiceChat', (body) => agents.find(body).describe());

  api.register('UpdateVoiceChat', (body) => {
    const s = agents.find(body);
    const cmd = str(body.Command, 'Command', { required: true });
    if (cmd !== 'interrupt') throw new InvalidParameterError('InvalidParameter.Command', `Command must be "interrupt" (got ${JSON.stringify(cmd)})`);
    const stopped = s.interrupt('api');
    return { AgentInstanceId: s.id, Interrupted: stopped };
  });

  api.register('SendAgentInstanceTTS', (body) => {
    const s = agents.find(body);
    const text = str(body.Text, 'Text', { required: true, max: MAX_TTS_TEXT })!;
    const expires = num(body.ExpireSeconds, 'ExpireSeconds', 1, 3600);
    const h = s.speakText(
      text,
      { priority: priorityOf(body.Priority), samePriorityOption: samePriorityOf(body.SamePriorityOption), expiresAt: expires ? Date.now() + expires * 1000 : undefined },
      { addHistory: bool(body.AddHistory, 'AddHistory', true), source: 'api-tts' },
    );
    return { AgentInstanceId: s.id, SpeechTaskId: h.id };
  });

  api.register('SendAgentInstanceLLM', (body) => {
    const s = agents.find(body);
    const text = str(body.Text, 'Text', { required: true, max: MAX_LLM_TEXT })!;
    const systemPrompt = str(body.SystemPrompt, 'SystemPrompt', { max: 20000 }) ?? s.config.llm.systemPrompt;
    const addQ = bool(body.AddQuestionToHistory, 'AddQuestionToHistory', false);
    const addA = bool(body.AddAnswerToHistory, 'AddAnswerToHistory', false);
    const expires = num(body.ExpireSeconds, 'ExpireSeconds', 1, 3600);
    const priority = priorityOf(body.Priority);
    const same = samePriorityOf(body.SamePriorityOption);
    // Context: SystemPrompt, the last WindowSize messages, then Text (Text itself is not sent to the room).
    const ctx = s.history.context(systemPrompt, s.config.llm.windowSize, text);
    const h = s.speakLlm(ctx, { priority, samePriorityOption: same, expiresAt: expires ? Date.now() + expires * 1000 : undefined }, { addAnswerToHistory: addA, source: 'api-llm' });
    if (addQ) s.history.add({ role: 'user', content: text, source: 'api' });
    return { AgentInstanceId: s.id, SpeechTaskId: h.id };
  });

  api.register('TakeoverAIAgentCall', (body) => {
    const s = agents.find(body);
    const uid = str(body.HumanAgentUserId, 'HumanAgentUserId', { max: 128, pattern: ID_PATTERN }) ?? `human-${Date.now().toString(36)}`;
    const mode = num(body.TakeoverMode, 'TakeoverMode', 0, 1, { integer: true }) ?? 0;
    const { token } = s.takeover(uid, mode);
    return { AgentInstanceId: s.id, RoomId: s.config.roomId, HumanAgentUserId: uid, TakeoverMode: mode, JoinToken: token };
  });

  // The agent calls out through a SIP gateway (src/sip/outboundCall.ts).
  api.register('StartAIAgentOutboundCall', (body) => startOutboundCall(body, agents, info.sip?.() ?? null));
}
