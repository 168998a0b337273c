import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/bridgeHarness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

const room = (n: string) => ({ RoomId: `room-${n}`, Config: { LLMConfig: { Mode: 'Demo' } } });

describe('control API: agent actions validate their fields', () => {
  it.each([
    ['no RoomId', { Config: {} }, 'MissingParameter.RoomId'],
    ['RoomId with spaces', { RoomId: 'a b' }, 'InvalidParameter.RoomId'],
    ['InterruptSpeechDuration below 200', { RoomId: 'r', Config: { ASRConfig: { InterruptConfig: { InterruptSpeechDuration: 100 } } } }, 'InvalidParameter.InterruptSpeechDuration'],
    ['InterruptSpeechDuration above 3000', { RoomId: 'r', Config: { ASRConfig: { InterruptConfig: { InterruptSpeechDuration: 3001 } } } }, 'InvalidParameter.InterruptSpeechDuration'],
    ['InterruptSpeechDuration not a number', { RoomId: 'r', Config: { ASRConfig: { InterruptConfig: { InterruptSpeechDuration: '500' } } } }, 'InvalidParameter.InterruptSpeechDuration'],
    ['VADConfig.SilenceTime below 200', { RoomId: 'r', Config: { ASRConfig: { VADConfig: { SilenceTime: 100 } } } }, 'InvalidParameter.ASRConfig.VADConfig.SilenceTime'],
    ['VADConfig.SilenceTime not an integer', { RoomId: 'r', Config: { ASRConfig: { VADConfig: { SilenceTime: '600' } } } }, 'InvalidParameter.ASRConfig.VADConfig.SilenceTime'],
    ['VADConfig not an object', { RoomId: 'r', Config: { ASRConfig: { VADConfig: 5 } } }, 'InvalidParameter.ASRConfig.VADConfig'],
    ['InterruptMode 2', { RoomId: 'r', Config: { InterruptMode: 2 } }, 'InvalidParameter.InterruptMode'],
    ['LLM Url not a URL', { RoomId: 'r', Config: { LLMConfig: { Url: 'nope' } } }, 'InvalidParameter.Url'],
    ['FunctionMap with an unknown Function', { RoomId: 'r', Config: { LLMConfig: { Mode: 'Demo', FunctionMap: [{ Function: 'transfer', MatchFunction: 'x' }] } } }, 'InvalidParameter.FunctionMap.Function'],
    ['WindowSize negative', { RoomId: 'r', Config: { LLMConfig: { Mode: 'Demo', WindowSize: -1 } } }, 'InvalidParameter.WindowSize'],
    ['WelcomeMessage over 300 characters', { RoomId: 'r', AgentConfig: { WelcomeMessage: 'x'.repeat(301) } }, 'InvalidParameter.WelcomeMessage'],
  ])('StartVoiceChat rejects %s', async (_name, body, code) => {
    const r = await h.api('StartVoiceChat', body);
    expect(r.status).toBe(400);
    expect(r.body.Code).toBe(code);
    expect(r.body.Message).toContain(code.split('.').slice(1).join('.'));
    expect(typeof r.body.RequestId).toBe('string');
  });

  it('accepts InterruptSpeechDuration 200 and 3000 and reports the mode', async () => {
    for (const d of [200, 3000]) {
      const s = await h.ok('StartVoiceChat', { ...room(`d${d}`), Config: { LLMConfig: { Mode: 'Demo' }, ASRConfig: { InterruptConfig: { InterruptSpeechDuration: d } } } });
      const desc = await h.ok('DescribeVoiceChat', { AgentInstanceId: s.AgentInstanceId });
      expect(desc.Interrupt).toEqual({ Mode: 'duration', InterruptSpeechDuration: d });
      await h.ok('StopVoiceChat', { AgentInstanceId: s.AgentInstanceId });
    }
  });

  it('rejects a malformed body with InvalidParameter.Body', async () => {
    const r = await h.api('StartVoiceChat', '{"RoomId":');
    expect(r.status).toBe(400);
    expect(r.body.Code).toBe('InvalidParameter.Body');
    const arr = await h.api('StartVoiceChat', '[1,2]');
    expect(arr.body.Code).toBe('InvalidParameter.Body');
  });

  it('validates SendAgentInstanceTTS / SendAgentInstanceLLM / UpdateVoiceChat fields', async () => {
    const s = await h.ok('StartVoiceChat', room('send'));
    const id = s.AgentInstanceId;
    const cases: [string, Record<string, unknown>, number, string][] = [
      ['SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'x'.repeat(301) }, 400, 'InvalidParameter.Text'],
      ['SendAgentInstanceTTS', { AgentInstanceId: id }, 400, 'MissingParameter.Text'],
      ['SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'hi', Priority: 'Urgent' }, 400, 'InvalidParameter.Priority'],
      ['SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'hi', SamePriorityOption: 'Replace' }, 400, 'InvalidParameter.SamePriorityOption'],
      ['SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'hi', AddHistory: 'yes' }, 400, 'InvalidParameter.AddHistory'],
      ['SendAgentInstanceTTS', { AgentInstanceId: 'agent-nope', Text: 'hi' }, 404, 'InvalidParameter.AgentInstanceId'],
      ['SendAgentInstanceTTS', { Text: 'hi' }, 400, 'MissingParameter.AgentInstanceId'],
      ['SendAgentInstanceLLM', { AgentInstanceId: id, Text: 'hi', AddAnswerToHistory: 1 }, 400, 'InvalidParameter.AddAnswerToHistory'],
      ['UpdateVoiceChat', { AgentInstanceId: id, Command: 'pause' }, 400, 'InvalidParameter.Command'],
      ['UpdateVoiceChat', { AgentInstanceId: id }, 400, 'MissingParameter.Command'],
      ['TakeoverAIAgentCall', { AgentInstanceId: id, TakeoverMode: 5 }, 400, 'InvalidParameter.TakeoverMode'],
    ];
    for (const [action, body, status, code] of cases) {
      const r = await h.api(action, body);
      expect({ action, status: r.status, code: r.body.Code }).toEqual({ action, status, code });
    }
    // The session kept running through all of that.
    expect((await h.ok('DescribeVoiceChat', { AgentInstanceId: id })).State).toBe('listening');
  });

  it('addresses an agent by RoomId + TaskId as well as by AgentInstanceId', async () => {
    const s = await h.ok('StartVoiceChat', { ...room('task'), TaskId: 'task-1' });
    const d = await h.ok('DescribeVoiceChat', { RoomId: 'room-task', TaskId: 'task-1' });
    expect(d.AgentInstanceId).toBe(s.AgentInstanceId);
    const dup = await h.api('StartVoiceChat', { ...room('task'), TaskId: 'task-1' });
    expect(dup.status).toBe(409);
    expect(dup.body.Code).toBe('InvalidState.TaskExists');
  });

  it('StopVoiceChat ends the agent; later calls get AgentEnded', async () => {
    const s = await h.ok('StartVoiceChat', room('stop'));
    const stopped = await h.ok('StopVoiceChat', { AgentInstanceId: s.AgentInstanceId });
    expect(stopped.State).toBe('ended');
    const r = await h.api('SendAgentInstanceTTS', { AgentInstanceId: s.AgentInstanceId, Text: 'hello' });
    expect(r.status).toBe(409);
    expect(r.body.Code).toBe('AgentEnded');
    const d = await h.ok('DescribeVoiceChat', { AgentInstanceId: s.AgentInstanceId });
    expect(d).toMatchObject({ State: 'ended', EndReason: 'stopped' });
  });
});
