/**
 * baresip (Debian) calls the bridge like a softphone would: its `aufile` module
 * plays a WAV of speech as the microphone, `sndfile` records what it hears. The
 * agent answers with real speech (espeak-ng through the test TTS server), hears
 * the caller, says goodbye and hangs up; the recording must hold the agent's
 * voice (energy and duration checked).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiTestServer, chunk, toolCallEvents } from '../helpers/openaiServer';
import { startTelephony, testAgent, until, type TelephonyStack } from '../helpers/sipHarness';
import { freeUdpPort, run, tempDir, toolAvailable } from '../helpers/sipTools';
import { speak } from '../helpers/clips';
import { concat, parseWav, rms } from '../helpers/audio';

const haveBaresip = toolAvailable('baresip');
let ai: OpenAiTestServer;
let stack: TelephonyStack;

beforeAll(async () => {
  if (!haveBaresip) return;
  ai = await OpenAiTestServer.start();
  const agent = testAgent(ai, { welcome: 'Welcome to voxbridge.', llm: { FunctionMap: [{ Function: 'hangup', MatchFunction: 'end_call' }] } });
  ((agent.Config as Record<string, any>).TTSConfig as Record<string, unknown>).SampleRate = 16000;
  stack = await startTelephony({
    VOXBRIDGE_TELEPHONY_AGENTS: JSON.stringify({ desk: agent }),
    VOXBRIDGE_SIP_ENABLED: 'true',
    VOXBRIDGE_SIP_PORT: '0',
    VOXBRIDGE_SIP_NUMBERS: JSON.stringify({ '100': 'desk' }),
    VOXBRIDGE_SIP_RTP_MIN_PORT: '31200',
    VOXBRIDGE_SIP_RTP_MAX_PORT: '31299',
  });
});
afterAll(async () => {
  await stack?.stop();
  await ai?.close();
});

function wav8k(pcm: Int16Array): Buffer {
  const b = Buffer.alloc(44 + pcm.length * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + pcm.length * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(pcm.length * 2, 40);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i], 44 + 2 * i);
  return b;
}

describe.skipIf(!haveBaresip)('baresip', () => {
  it('calls the agent with a WAV of speech and records the agent speaking back', async () => {
    ai.defaultTranscription = { text: 'can you hear me' };
    // Real speech for the agent's voice: the welcome and the goodbye.
    ai.scriptSpeech({ pcm: speak('Welcome to voxbridge.', 16000), split: { every: 3200 }, chunkDelayMs: 20 }, { pcm: speak('Yes, I hear you. Goodbye.', 16000), split: { every: 3200 }, chunkDelayMs: 20 });
    ai.scriptChat({ events: [chunk({ role: 'assistant', content: 'Yes, I hear you. Goodbye.' }), ...toolCallEvents([{ index: 0, id: 'c1', name: 'end_call', arguments: '{}' }]), chunk({ finishReason: 'tool_calls' })] });
    const dir = tempDir('baresip');
    const input = path.join(dir, 'caller.wav');
    fs.writeFileSync(input, wav8k(concat([new Int16Array(8000 * 2.5), speak('can you hear me', 8000), new Int16Array(8000 * 8)])));
    const sipPort = await freeUdpPort();
    fs.writeFileSync(path.join(dir, 'config'), [
      'module_path /usr/lib/baresip/modules',
      `sip_listen 127.0.0.1:${sipPort}`,
      'audio_player aubridge,nil',
      'audio_alert aubridge,nil',
      `audio_source aufile,${input}`,
      'rtp_ports 32000-32099',
      `snd_path ${dir}`,
      'module_tmp uuid.so',
      'module_tmp account.so',
      'module menu.so',
      'module g711.so',
      'module aufile.so',
      'module aubridge.so',
      'module sndfile.so',
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, 'accounts'), '<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU,PCMA\n');
    fs.writeFileSync(path.join(dir, 'contacts'), '');
    const t0 = Date.now();
    const bs = run('baresip', ['-f', dir, '-e', `/dial sip:100@127.0.0.1:${stack.sip!.port}`, '-t', '20'], dir);
    // The agent says goodbye and hangs up (BYE), or baresip quits at -t.
    const session = await until(() => stack.agents.all().find((s) => s.config.roomId.startsWith('call-') && s.config.taskId.startsWith('sip-')), 15_000, 'agent for the call');
    await until(() => session.ended, 20_000, 'agent ended');
    expect(session.endReason).toBe('hangup');
    expect(session.turns.find((t) => t.userText === 'can you hear me')?.answer).toBe('Yes, I hear you. Goodbye.');
    bs.child.kill('SIGTERM');
    await bs.exited;
    const dec = fs.readdirSync(dir).find((f) => /^dump-.*-dec\.wav$/.test(f));
    expect(dec, `baresip output:\n${bs.output.join('').slice(-3000)}`).toBeDefined();
    const w = parseWav(fs.readFileSync(path.join(dir, dec!)));
    const frame = w.sampleRate / 50;
    let voiced = 0;
    for (let i = 0; i + frame <= w.samples.length; i += frame) if (rms(w.samples, i, i + frame) > 300) voiced++;
    const voicedMs = voiced * 20;
    console.log(`[baresip] call ${Date.now() - t0} ms; recording ${(w.samples.length / w.sampleRate).toFixed(2)} s at ${w.sampleRate} Hz, ${voicedMs} ms voiced (rms > 300)`);
    // "Welcome to voxbridge." + "Yes, I hear you. Goodbye." is about 3 s of speech.
    expect(voicedMs).toBeGreaterThan(1500);
  });
});
