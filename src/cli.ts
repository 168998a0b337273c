/**
 * `voxbridge` command: loads the configuration, starts the bridge, and shuts it
 * down gracefully on SIGINT/SIGTERM (exit 0; a second signal or a shutdown that
 * overruns shutdownTimeoutMs exits 1).
 */
import { loadConfig, ConfigError } from './config';
import { Bridge, VERSION } from './bridge';

const USAGE = `usage: voxbridge [--config FILE] [--host HOST] [--port PORT] [--workers N] [--help] [--version]

Starts the voxbridge server: mediasoup workers, the control API (POST /api?Action=...),
GET /healthz and the signaling WebSocket (/ws). Settings come from embedded defaults,
then FILE (JSON), then VOXBRIDGE_* environment variables, then flags.`;

function parseArgs(argv: string[]): { configFile?: string; flags: Record<string, unknown>; help: boolean; version: boolean } {
  const flags: Record<string, unknown> = {};
  let configFile: string | undefined;
  let help = false;
  let version = false;
  const map: Record<string, string> = { '--host': 'host', '--port': 'port', '--workers': 'mediasoup.numWorkers', '--max-sessions': 'maxSessions' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ConfigError([`${name} needs a value`]);
      return v;
    };
    if (name === '--help' || name === '-h') help = true;
    else if (name === '--version' || name === '-v') version = true;
    else if (name === '--config') configFile = value();
    else if (map[name]) flags[map[name]] = value();
    else throw new ConfigError([`unknown option ${a}`]);
  }
  return { configFile, flags, help, version };
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let bridge: Bridge;
  try {
    const args = parseArgs(argv);
    if (args.help) {
      console.log(USAGE);
      return;
    }
    if (args.version) {
      console.log(VERSION);
      return;
    }
    const config = loadConfig({ configFile: args.configFile, flags: args.flags });
    bridge = new Bridge(config);
    await bridge.start();
    console.log(`voxbridge ${VERSION} listening on ${bridge.url}`);
    console.log(`web page: ${bridge.url}/room/  (on localhost it can start the built-in demo agent: open it, press Join, speak)`);
    if (config.apiKeyGenerated) console.log(`control API key (generated for this run; set VOXBRIDGE_API_KEY to fix it): ${config.apiKey}`);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`voxbridge: ${e.message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    console.error(`voxbridge: failed to start: ${(e as Error).message}`);
    process.exit(1);
  }

  let signals = 0;
  const shutdown = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      console.error(`voxbridge: second ${sig}, exiting now`);
      process.exit(1);
    }
    const timer = setTimeout(() => {
      console.error('voxbridge: shutdown timed out');
      process.exit(1);
    }, bridge.config.shutdownTimeoutMs);
    timer.unref();
    bridge.stop().then(
      () => process.exit(0),
      (err) => {
        console.error(`voxbridge: error during shutdown: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
