/**
 * The signaling wire format: protobuf messages from proto/signaling.proto,
 * encoded with protobufjs (one message per binary WebSocket frame). Decoding
 * never throws: a malformed frame is a value the server answers with an error.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { projectRoot } from '../native/addon';
import { InvalidParameterError } from '../errors';

export const PROTO_PATH = path.join(projectRoot, 'proto', 'signaling.proto');

let root: protobuf.Root | undefined;
function types(): { Request: protobuf.Type; ServerMessage: protobuf.Type } {
  root ??= protobuf.loadSync(PROTO_PATH);
  return {
    Request: root.lookupType('voxbridge.signaling.Request'),
    ServerMessage: root.lookupType('voxbridge.signaling.ServerMessage'),
  };
}

export const Role = { UNSPECIFIED: 0, USER: 1, HUMAN_AGENT: 2 } as const;
export const Direction = { UNSPECIFIED: 0, SEND: 1, RECV: 2 } as const;

/** A decoded request: `body` names the oneof case, `msg[body]` holds its fields. */
export interface SignalingRequest {
  id: number;
  body: string;
  [k: string]: unknown;
}

export type DecodeResult = { ok: true; req: SignalingRequest } | { ok: false; code: string; message: string };

export function decodeRequest(buf: Uint8Array): DecodeResult {
  const { Request } = types();
  let m: protobuf.Message;
  try {
    m = Request.decode(buf);
  } catch (e) {
    return { ok: false, code: 'Signaling.BadMessage', message: `not a signaling Request: ${(e as Error).message}` };
  }
  const obj = Request.toObject(m, { defaults: true, oneofs: true, longs: Number, enums: Number }) as SignalingRequest;
  if (!obj.body) return { ok: false, code: 'Signaling.BadMessage', message: 'Request has no body' };
  if (!obj.id) return { ok: false, code: 'Signaling.BadMessage', message: 'Request.id must be non-zero' };
  return { ok: true, req: obj };
}

/** Encodes a ServerMessage from a plain object ({response:{id, joined:{...}}} / {notification:{...}}). */
export function encodeServerMessage(obj: Record<string, unknown>): Uint8Array {
  const { ServerMessage } = types();
  return ServerMessage.encode(ServerMessage.fromObject(obj)).finish();
}

/** For tests and node clients: the Request encoder / ServerMessage decoder. */
export function encodeRequest(obj: Record<string, unknown>): Uint8Array {
  const { Request } = types();
  return Request.encode(Request.fromObject(obj)).finish();
}

export function decodeServerMessage(buf: Uint8Array): Record<string, any> {
  const { ServerMessage } = types();
  return ServerMessage.toObject(ServerMessage.decode(buf), { defaults: true, oneofs: true, longs: Number, enums: Number });
}

/** JSON text from a `*_json` field; throws InvalidParameterError (Signaling.BadJson) when it is not an object. */
export function parseJsonField(text: unknown, field: string, required = true): any {
  if (typeof text !== 'string' || text === '') {
    if (required) throw new InvalidParameterError('Signaling.MissingField', `${field} is required`);
    return undefined;
  }
  try {
    const v = JSON.parse(text);
    if (!v || typeof v !== 'object') throw new Error('not an object');
    return v;
  } catch (e) {
    throw new InvalidParameterError('Signaling.BadJson', `${field} is not a JSON object: ${(e as Error).message}`);
  }
}
