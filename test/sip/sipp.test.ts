/**
 * SIPp (Debian's sip-tester) against the bridge's SIP user agent:
 * - its stock `uac_pcap` scenario calls the bridge and plays G.711 speech from a
 *   pcap; the agent answers, hears the caller (an ASR turn), speaks back (RTP that
 *   SIPp echoes with -rtp_echo, so it is seen coming back), and SIPp's BYE ends it;
 * - a UAS scenario answers StartAIAgentOutboundCall after a digest challenge; the
 *   agent speaks, hears the callee, says its closing words and sends BYE.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiTestServer, textEvents, toolCallEvents, chunk } from '../helpers/openaiServer';
import { startTelephony, testAgent, toneSpeech, until, sleep, type TelephonyStack } from '../helpers/sipHarness';
import { freeUdpPort, run, sippCounts, sippDir, toolAvailable } from '../helpers/sipTools';
import type { SipMediaLeg } from '../../src/sip/mediaLeg';

const haveSipp = toolAvailable('sipp');
let ai: OpenAiTestServer;
let stack: TelephonyStack;
let uasPort = 0;

beforeAll(async () => {
  if (!haveSipp) return;
  ai = await OpenAiTestServer.start();
  uasPort = await freeUdpPort();
  stack = await startTelephony({
    VOXBRIDGE_TELEPHONY_AGENTS: JSON.stringify({
      desk: testAgent(ai, { welcome: 'Hello, you are talking to the test desk.' }),
      caller: testAgent(ai, { welcome: 'Hi, this is a call from the test desk.', config: { InterruptMode: 1 }, llm: { FunctionMap: [{ Function: 'hangup', MatchFunction: 'end_call' }] } }),
    }),
    VOXBRIDGE_SIP_ENABLED: 'true',
    VOXBRIDGE_SIP_PORT: '0',
    VOXBRIDGE_SIP_NUMBERS: JSON.stringify({ service: 'desk' }),
    VOXBRIDGE_SIP_TRUNKS: JSON.stringify([{ name: 'pbx', host: '127.0.0.1', port: uasPort, username: 'agent', password: 's3cret' }]),
    VOXBRIDGE_SIP_RTP_MIN_PORT: '31000',
    VOXBRIDGE_SIP_RTP_MAX_PORT: '31099',
  });
});
afterAll(async () => {
  await stack?.stop();
  await ai?.close();
});

describe.skipIf(!haveSipp)('SIPp', () => {
  it('stock uac_pcap: the agent answers, hears the pcap speech, speaks back, and the caller\'s BYE ends it', async () => {
    ai.defaultTranscription = { text: 'hello from the pcap' };
    ai.scriptChat({ events: textEvents('Hello pcap, nice to hear you.') });
    ai.defaultSpeech = toneSpeech(1.5);
    const mp = await freeUdpPort();
    const t0 = Date.now();
    const sipp = run('sipp', ['-sn', 'uac_pcap', '-s', 'service', `127.0.0.1:${stack.sip!.port}`, '-m', '1', '-i', '127.0.0.1', '-p', String(await freeUdpPort()), '-mi', '127.0.0.1', '-mp', String(mp), '-rtp_echo', '-nostdin', '-timeout', '40s', '-timeout_error'], sippDir());
    // Sample the leg's mediasoup counters while the call is up.
    let tstats: Awaited<ReturnType<SipMediaLeg['transportStats']>> = null;
    let callDesc: Record<string, unknown> | null = null;
    const sampler = setInterval(async () => {
      const c = [...((stack.sip as any).calls as Map<string, any>).values()][0];
      if (c?.media) {
        tstats = (await c.media.transportStats()) ?? tstats;
        callDesc = c.describe();
      }
    }, 250);
    const code = await sipp.exited;
    clearInterval(sampler);
    expect(sipp.output.join('')).not.toMatch(/Aborting|Failed call\s*\|\s*\d+\s*\|\s*[1-9]/);
    expect(code).toBe(0);
    expect(sippCounts(sipp.output)).toEqual({ successful: 1, failed: 0 });
    const session = stack.agents.all().find((s) => s.config.roomId.startsWith('call-1-'))!;
    await until(() => session.ended, 3000, 'agent ended by BYE');
    expect(session.endReason).toBe('userHangup');
    // The agent heard the caller: an ASR turn, and it answered.
    expect(session.turns[0]?.userText).toBe('hello from the pcap');
    // It spoke: over a second of PCMA RTP left, and came back from SIPp's echo (SIPp received it).
    expect(tstats).not.toBeNull();
    const s = tstats!;
    expect(s.rtpBytesSent).toBeGreaterThan(8000);
    expect(s.bytesReceived - s.rtpBytesReceived).toBeGreaterThan(0.5 * s.rtpBytesSent);
    const media = (callDesc as any).Media;
    console.log(`[sipp uac_pcap] call ${Date.now() - t0} ms; codec ${(callDesc as any).Codec}; RTP in ${media.rtpIn} out ${media.rtpOut}; echo back ${s.bytesReceived - s.rtpBytesReceived} of ${s.rtpBytesSent} bytes; pacing jitter p50 ${media.pacing.jitterP50} p95 ${media.pacing.jitterP95} max ${media.pacing.jitterMax} ms`);
  });

  it('StartAIAgentOutboundCall: digest-challenged INVITE to a SIPp UAS; the agent talks, hears the callee, says goodbye and sends BYE', async () => {
    ai.defaultTranscription = { text: 'who is this' };
    ai.scriptChat({ events: [chunk({ role: 'assistant', content: 'Goodbye for now.' }), ...toolCallEvents([{ index: 0, id: 'c1', name: 'end_call', arguments: '{}' }]), chunk({ finishReason: 'tool_calls' })] });
    ai.defaultSpeech = toneSpeech(1);
    const sipp = run('sipp', ['-sf', path.join(__dirname, 'scenarios', 'uas_auth_answer.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-m', '1', '-mi', '127.0.0.1', '-mp', String(await freeUdpPort()), '-rtp_echo', '-nostdin', '-timeout', '40s', '-timeout_error'], sippDir());
    await sleep(300);
    const r = await stack.call('StartAIAgentOutboundCall', { ToNumber: '+15550100', Gateway: 'pbx', StoredAgent: 'caller' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ Gateway: 'pbx', ToNumber: '+15550100', State: 'calling' });
    const session = stack.agents.get(r.body.AgentInstanceId)!;
    const code = await sipp.exited;
    expect(code).toBe(0);
    expect(sippCounts(sipp.output)).toEqual({ successful: 1, failed: 0 });
    await until(() => session.ended, 3000, 'agent ended');
    expect(session.endReason).toBe('hangup');
    expect(session.turns.find((t) => t.userText === 'who is this')?.answer).toBe('Goodbye for now.');
  });

  it('refuses StartAIAgentOutboundCall to an unknown gateway or a bad number, naming the field', async () => {
    const a = await stack.call('StartAIAgentOutboundCall', { ToNumber: '+15550100', Gateway: 'nope', StoredAgent: 'caller' });
    expect([a.status, a.body.Code]).toEqual([404, 'InvalidParameter.Gateway']);
    const b = await stack.call('StartAIAgentOutboundCall', { ToNumber: 'not a number', StoredAgent: 'caller' });
    expect([b.status, b.body.Code]).toEqual([400, 'InvalidParameter.ToNumber']);
  });
});
