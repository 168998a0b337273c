import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config';

describe('loadConfig()', () => {
  it('has embedded defaults: localhost, a generated API key, one worker per core', () => {
    const c = loadConfig({ env: {} });
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.apiKeyGenerated).toBe(true);
    expect(c.apiKey.length).toBeGreaterThanOrEqual(16);
    expect(c.mediasoup.numWorkers).toBe(os.availableParallelism());
  });

  it('layers file < environment < flags', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, JSON.stringify({ port: 9000, host: '0.0.0.0', mediasoup: { numWorkers: 3 } }));
    const c = loadConfig({ configFile: file, env: { VOXBRIDGE_PORT: '9100', VOXBRIDGE_API_KEY: 'k'.repeat(20) }, flags: { 'mediasoup.numWorkers': '1' } });
    expect(c).toMatchObject({ host: '0.0.0.0', port: 9100, apiKey: 'k'.repeat(20), apiKeyGenerated: false });
    expect(c.mediasoup.numWorkers).toBe(1);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('throws ConfigError listing every problem with its source', () => {
    let err: unknown;
    try {
      loadConfig({ env: { VOXBRIDGE_PORT: '70000', VOXBRIDGE_RTC_MIN_PORT: '50000', VOXBRIDGE_RTC_MAX_PORT: '40000', VOXBRIDGE_API_KEY: 'short' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    expect(problems).toContain('"port" must be an integer in [0, 65535] (got "70000" from env VOXBRIDGE_PORT)');
    expect(problems).toContain('rtcMinPort');
    expect(problems).toContain('"apiKey" must be at least 16 characters');
  });

  it('rejects unknown settings in the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, JSON.stringify({ prot: 1 }));
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/"prot".*unknown setting/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads the demo switch: auto by default, on/off (and the older 1/0), anything else rejected', () => {
    expect(loadConfig({ env: {} }).demo).toBe('auto');
    expect(loadConfig({ env: { VOXBRIDGE_DEMO: 'off' } }).demo).toBe('off');
    expect(loadConfig({ env: { VOXBRIDGE_DEMO: '1' } }).demo).toBe('on');
    expect(() => loadConfig({ env: { VOXBRIDGE_DEMO: 'maybe' } })).toThrow(/"demo" must be auto, on or off/);
  });

  it('reads the VAD tap settings: off by default, rooms a valid regular expression', () => {
    const c = loadConfig({ env: {} });
    expect(c.vadTapDir).toBeNull();
    expect(c.vadTapRooms).toBe('');
    const t = loadConfig({ env: { VOXBRIDGE_VAD_TAP_DIR: '/tmp/taps', VOXBRIDGE_VAD_TAP_ROOMS: '^bench-' } });
    expect([t.vadTapDir, t.vadTapRooms]).toEqual(['/tmp/taps', '^bench-']);
    expect(() => loadConfig({ env: { VOXBRIDGE_VAD_TAP_ROOMS: '(' } })).toThrow(/"vadTapRooms" must be a regular expression/);
  });

  it('reads the pacer settings: 40 ms lead and real-time priority by default, each validated', () => {
    const c = loadConfig({ env: {} });
    expect([c.agentAudioLeadMs, c.pacerPriority]).toEqual([40, 'realtime']);
    const t = loadConfig({ env: { VOXBRIDGE_AGENT_AUDIO_LEAD_MS: '0', VOXBRIDGE_PACER_PRIORITY: 'high' } });
    expect([t.agentAudioLeadMs, t.pacerPriority]).toEqual([0, 'high']);
    expect(() => loadConfig({ env: { VOXBRIDGE_PACER_PRIORITY: 'max' } })).toThrow(/"pacerPriority" must be realtime, high or normal/);
    expect(() => loadConfig({ env: { VOXBRIDGE_AGENT_AUDIO_LEAD_MS: '500' } })).toThrow(/agentAudioLeadMs/);
  });
});
