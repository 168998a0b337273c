export { Bridge, VERSION } from './bridge';
export { loadConfig, ConfigError, type BridgeConfig } from './config';
export * from './errors';
