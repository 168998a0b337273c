import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, root, startCli, type RunningCli } from './helpers/process';

const KEY = 'test-api-key-0123456789';

describe('voxbridge CLI', () => {
  let cli: RunningCli | undefined;
  afterEach(() => {
    if (cli && cli.child.exitCode === null) cli.child.kill('SIGKILL');
    cli = undefined;
  });

  it('starts, answers /healthz with worker pids, and exits 0 on SIGTERM leaving no worker', async () => {
    cli = await startCli({ VOXBRIDGE_API_KEY: KEY, VOXBRIDGE_WORKERS: '2' });
    const res = await fetch(`${cli.url}/healthz`);
    expect(res.status).toBe(200);
    const health = (await res.json()) as { status: string; uptimeSec: number; workers: { pid: number }[] };
    expect(health.status).toBe('ok');
    expect(health.uptimeSec).toBeGreaterThanOrEqual(0);
    expect(health.workers).toHaveLength(2);
    const pids = health.workers.map((w) => w.pid);
    expect(pids.every(alive)).toBe(true);

    const sentAt = Date.now();
    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    expect(exit.code).toBe(0);
    expect(exit.atMs - sentAt).toBeLessThan(5000);
    expect(pids.some(alive)).toBe(false);
  });

  it('answers an unknown Action with 400 {Code, Message, RequestId}', async () => {
    cli = await startCli({ VOXBRIDGE_API_KEY: KEY, VOXBRIDGE_WORKERS: '1' });
    const res = await fetch(`${cli.url}/api?Action=NoSuchAction`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, string>;
    expect(body.Code).toBe('InvalidParameter.Action');
    expect(body.Message).toContain('NoSuchAction');
    expect(body.RequestId).toMatch(/^[0-9a-f-]{36}$/);

    const noKey = await fetch(`${cli.url}/api?Action=NoSuchAction`, { method: 'POST', body: '{}' });
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as Record<string, string>).Code).toBe('Unauthorized.ApiKey');
    cli.child.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
  });

  it('reads a config file and rejects invalid settings with a clear error and exit code 2', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxbridge-cfg-'));
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ port: 'eighty', mediasoup: { numWorkers: 0 } }));
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'voxbridge.js'), '--config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('"port" must be an integer in [0, 65535]');
    expect(r.stderr).toContain('"mediasoup.numWorkers" must be an integer in [1, 256]');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
