/**
 * Client control messages: the binary `ctrl` TLV frame (magic "ctrl" + u32be
 * length + JSON such as {"Command":"interrupt"}) that clients send on the room's
 * data channel or the telephony WebSocket. One message may carry several frames.
 * Every malformed input yields a stable error code for an error reply to the
 * sender; nothing here throws on bad network data.
 */
import { tlvCodec, type TlvImpl } from '../native/tlv';
import {
  DEFAULT_MAX_PAYLOAD,
  OUT_FIRST,
  OUT_STATUS,
  TLV_ERROR_CODE,
  TlvFormat,
  TlvStatus,
  createDecodeOut,
} from '../native/tlvCodes';

export const CTRL_COMMANDS = ['interrupt'] as const;
export type CtrlCommandName = (typeof CTRL_COMMANDS)[number];

export interface CtrlCommand {
  Command: CtrlCommandName;
  [k: string]: unknown;
}

export interface CtrlError {
  code: 'TLV_BAD_MAGIC' | 'TLV_OVERSIZE' | 'TLV_TRUNCATED' | 'CTRL_INVALID_JSON' | 'CTRL_UNKNOWN_COMMAND' | string;
  message: string;
}

export interface CtrlDecodeResult {
  /** Commands decoded before any error (frames before a bad one still count). */
  commands: CtrlCommand[];
  error: CtrlError | null;
}

const out = createDecodeOut(16);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one complete message (a data-channel message or a WebSocket binary message). */
export function decodeCtrlMessage(msg: Uint8Array, opts: { maxPayload?: number; impl?: TlvImpl } = {}): CtrlDecodeResult {
  const maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const codec = tlvCodec(opts.impl ?? 'auto');
  const commands: CtrlCommand[] = [];
  let start = 0;
  for (;;) {
    const n = codec.decodeBatch(TlvFormat.Ctrl, msg, start, msg.length, maxPayload, out, true);
    for (let i = 0, o = OUT_FIRST; i < n; i++, o += 3) {
      const r = parseCommand(msg, out[o + 1], out[o + 2]);
      if ('error' in r) return { commands, error: r.error };
      commands.push(r.command);
    }
    const status = out[OUT_STATUS];
    if (status === TlvStatus.OutFull) {
      start = out[1];
      continue;
    }
    if (status === TlvStatus.Ok) {
      if (commands.length === 0) return { commands, error: { code: 'TLV_TRUNCATED', message: 'empty control message' } };
      return { commands, error: null };
    }
    return { commands, error: { code: TLV_ERROR_CODE[status] ?? 'TLV_UNKNOWN', message: describe(status, maxPayload) } };
  }
}

function describe(status: number, maxPayload: number): string {
  switch (status) {
    case TlvStatus.BadMagic:
      return 'control frame must start with the 4 bytes "ctrl"';
    case TlvStatus.Oversize:
      return `control frame length exceeds the maximum of ${maxPayload} bytes`;
    case TlvStatus.Truncated:
      return 'control frame is shorter than its header and declared length';
    default:
      return `malformed control frame (status ${status})`;
  }
}

function parseCommand(buf: Uint8Array, off: number, len: number): { command: CtrlCommand } | { error: CtrlError } {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(buf.subarray(off, off + len)));
  } catch (e) {
    return { error: { code: 'CTRL_INVALID_JSON', message: `control payload is not valid UTF-8 JSON: ${(e as Error).message}` } };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return { error: { code: 'CTRL_INVALID_JSON', message: 'control payload must be a JSON object' } };
  }
  const cmd = (value as { Command?: unknown }).Command;
  if (typeof cmd !== 'string' || !(CTRL_COMMANDS as readonly string[]).includes(cmd)) {
    return {
      error: { code: 'CTRL_UNKNOWN_COMMAND', message: `unknown Command ${JSON.stringify(cmd)}; known: ${CTRL_COMMANDS.join(', ')}` },
    };
  }
  return { command: value as CtrlCommand };
}
