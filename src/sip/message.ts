/**
 * SIP messages (RFC 3261 §7, §25): parsing with limits, building, and the few
 * header grammars the user agent needs (name-addr, Via, CSeq, URIs, params).
 * Parsing never throws: a malformed message is a result with a stable code and,
 * when the headers could be read, enough of them to answer it with a 400.
 */
import crypto from 'node:crypto';

export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel';
  user: string;
  host: string;
  port: number | null;
  params: Record<string, string>;
}

export interface SipHeaders {
  /** Header lines in order, names in canonical case. */
  list: [string, string][];
}

export interface SipRequest {
  kind: 'request';
  method: string;
  uri: string;
  headers: [string, string][];
  body: Buffer;
}

export interface SipResponse {
  kind: 'response';
  status: number;
  reason: string;
  headers: [string, string][];
  body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

export interface SipLimits {
  maxBytes: number;
  maxHeaders: number;
  maxLine: number;
}

export const DEFAULT_LIMITS: SipLimits = { maxBytes: 16384, maxHeaders: 100, maxLine: 4096 };

export type SipParseError =
  | 'SIP_TOO_LARGE'
  | 'SIP_BAD_START_LINE'
  | 'SIP_BAD_HEADER'
  | 'SIP_TOO_MANY_HEADERS'
  | 'SIP_MISSING_HEADER'
  | 'SIP_BAD_CONTENT_LENGTH'
  | 'SIP_BAD_CSEQ';

export type ParseResult = { ok: SipMessage } | { error: SipParseError; message: string; partial?: SipMessage };

const COMPACT: Record<string, string> = {
  i: 'Call-ID',
  m: 'Contact',
  f: 'From',
  t: 'To',
  v: 'Via',
  l: 'Content-Length',
  c: 'Content-Type',
  k: 'Supported',
  s: 'Subject',
  e: 'Content-Encoding',
  o: 'Event',
  r: 'Refer-To',
  u: 'Allow-Events',
};

const CANON: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'proxy-authenticate': 'Proxy-Authenticate',
  'mime-version': 'MIME-Version',
};

export function canonicalName(name: string): string {
  const n = name.trim();
  if (n.length === 1) return COMPACT[n.toLowerCase()] ?? n;
  const lower = n.toLowerCase();
  return CANON[lower] ?? lower.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;

/** Parses one whole message (a UDP datagram, or a TCP message cut by SipStreamParser). */
export function parseMessage(buf: Buffer, limits: SipLimits = DEFAULT_LIMITS): ParseResult {
  if (buf.length > limits.maxBytes) return { error: 'SIP_TOO_LARGE', message: `message of ${buf.length} bytes exceeds ${limits.maxBytes}` };
  const end = buf.indexOf('\r\n\r\n');
  const headEnd = end < 0 ? buf.length : end;
  const head = buf.toString('latin1', 0, headEnd);
  const lines = head.split('\r\n');
  const start = lines[0] ?? '';
  if (start.length > limits.maxLine) return { error: 'SIP_BAD_START_LINE', message: 'start line too long' };
  let msg: SipMessage;
  let m = /^SIP\/2\.0 ([1-6]\d\d) ([^\r\n]*)$/.exec(start);
  if (m) msg = { kind: 'response', status: Number(m[1]), reason: m[2], headers: [], body: Buffer.alloc(0) };
  else {
    m = /^([A-Za-z]+) (\S+) SIP\/2\.0$/.exec(start);
    if (!m || !TOKEN.test(m[1]) || !/^(sips?|tel):/i.test(m[2])) return { error: 'SIP_BAD_START_LINE', message: `bad start line ${JSON.stringify(start.slice(0, 80))}` };
    msg = { kind: 'request', method: m[1].toUpperCase(), uri: m[2], headers: [], body: Buffer.alloc(0) };
  }
  // Header lines, with folding (a line starting with whitespace continues the previous one).
  // A bad line is skipped and reported after the others are read, so the message can still be answered.
  let bad: { error: SipParseError; message: string } | null = null;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.length > limits.maxLine) {
      bad ??= { error: 'SIP_BAD_HEADER', message: 'header line too long' };
      continue;
    }
    if (/^[ \t]/.test(line) && msg.headers.length) {
      msg.headers[msg.headers.length - 1][1] += ' ' + line.trim();
      continue;
    }
    const c = line.indexOf(':');
    if (c <= 0 || !TOKEN.test(line.slice(0, c).trim())) {
      bad ??= { error: 'SIP_BAD_HEADER', message: `bad header line ${JSON.stringify(line.slice(0, 60))}` };
      continue;
    }
    if (msg.headers.length >= limits.maxHeaders) return { error: 'SIP_TOO_MANY_HEADERS', message: `more than ${limits.maxHeaders} headers`, partial: msg };
    msg.headers.push([canonicalName(line.slice(0, c)), line.slice(c + 1).trim()]);
  }
  if (bad) return { ...bad, partial: msg };
  for (const h of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
    if (!header(msg, h)) return { error: 'SIP_MISSING_HEADER', message: `missing ${h}`, partial: msg };
  }
  const cseq = parseCSeq(header(msg, 'CSeq')!);
  if (!cseq || (msg.kind === 'request' && cseq.method !== msg.method)) return { error: 'SIP_BAD_CSEQ', message: 'bad CSeq', partial: msg };
  const bodyStart = end < 0 ? buf.length : end + 4;
  const clh = header(msg, 'Content-Length');
  let len = buf.length - bodyStart;
  if (clh !== undefined) {
    if (!/^\d{1,6}$/.test(clh)) return { error: 'SIP_BAD_CONTENT_LENGTH', message: 'bad Content-Length', partial: msg };
    const n = Number(clh);
    if (n > len) return { error: 'SIP_BAD_CONTENT_LENGTH', message: `Content-Length ${n} past the end of the message`, partial: msg };
    len = n;
  }
  msg.body = Buffer.from(buf.subarray(bodyStart, bodyStart + len));
  return { ok: msg };
}

/** First value of a header (canonical name), or undefined. */
export function header(msg: { headers: [string, string][] }, name: string): string | undefined {
  for (const [n, v] of msg.headers) if (n === name) return v;
  return undefined;
}

/** All values of a header, comma-separated lists split (not inside quotes or <>). */
export function headerValues(msg: { headers: [string, string][] }, name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of msg.headers) if (n === name) out.push(...splitList(v));
  return out;
}

export function splitList(v: string): string[] {
  const out: string[] = [];
  let depthQ = false;
  let depthA = 0;
  let startI = 0;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    if (ch === '"' && v[i - 1] !== '\\') depthQ = !depthQ;
    else if (!depthQ && ch === '<') depthA++;
    else if (!depthQ && ch === '>') depthA = Math.max(0, depthA - 1);
    else if (!depthQ && depthA === 0 && ch === ',') {
      out.push(v.slice(startI, i).trim());
      startI = i + 1;
    }
  }
  const last = v.slice(startI).trim();
  if (last) out.push(last);
  return out;
}

export function parseParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) out[p.toLowerCase()] = '';
    else out[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return out;
}

export function parseUri(s: string): SipUri | null {
  const m = /^(sips?|tel):(?:([^@;?]*)@)?(\[[0-9A-Fa-f:.]+\]|[^:;?>]+)(?::(\d{1,5}))?((?:;[^?]*)?)(?:\?.*)?$/i.exec(s.trim());
  if (!m) return null;
  return {
    scheme: m[1].toLowerCase() as SipUri['scheme'],
    user: decodeURIComponent(m[2] ?? '').split(':')[0],
    host: m[3].toLowerCase(),
    port: m[4] ? Number(m[4]) : null,
    params: parseParams(m[5] ?? ''),
  };
}

export interface NameAddr {
  display: string;
  uri: string;
  params: Record<string, string>;
}

/** From/To/Contact/Route value: `"Name" <sip:u@h>;tag=x` or `sip:u@h;tag=x`. */
export function parseNameAddr(v: string): NameAddr | null {
  const s = v.trim();
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt);
    if (gt < 0) return null;
    return { display: s.slice(0, lt).trim().replace(/^"(.*)"$/, '$1'), uri: s.slice(lt + 1, gt).trim(), params: parseParams(s.slice(gt + 1)) };
  }
  const semi = s.indexOf(';');
  const uri = semi < 0 ? s : s.slice(0, semi);
  if (!/^(sips?|tel):/i.test(uri)) return null;
  return { display: '', uri, params: parseParams(semi < 0 ? '' : s.slice(semi)) };
}

export interface Via {
  transport: string;
  host: string;
  port: number | null;
  params: Record<string, string>;
}

export function parseVia(v: string): Via | null {
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[^\s:;]+)(?:\s*:\s*(\d{1,5}))?\s*((?:;.*)?)$/i.exec(v.trim());
  if (!m) return null;
  return { transport: m[1].toUpperCase(), host: m[2], port: m[3] ? Number(m[3]) : null, params: parseParams(m[4] ?? '') };
}

export function parseCSeq(v: string): { seq: number; method: string } | null {
  const m = /^(\d{1,10})\s+([A-Za-z]+)$/.exec(v.trim());
  if (!m) return null;
  const seq = Number(m[1]);
  if (seq > 2 ** 31 - 1) return null;
  return { seq, method: m[2].toUpperCase() };
}

export const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  183: 'Session Progress',
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  415: 'Unsupported Media Type',
  420: 'Bad Extension',
  481: 'Call/Transaction Does Not Exist',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** Serializes with a correct Content-Length (any given one is replaced). */
export function serialize(msg: SipMessage): Buffer {
  const start = msg.kind === 'request' ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
  const lines = [start];
  for (const [n, v] of msg.headers) if (n !== 'Content-Length') lines.push(`${n}: ${v}`);
  lines.push(`Content-Length: ${msg.body.length}`);
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return msg.body.length ? Buffer.concat([head, msg.body]) : head;
}

/** A response to `req` copying Via, From, To, Call-ID, CSeq (RFC 3261 §8.2.6). */
export function responseTo(req: SipRequest, status: number, opts: { toTag?: string; headers?: [string, string][]; body?: Buffer; reason?: string } = {}): SipResponse {
  const headers: [string, string][] = [];
  for (const [n, v] of req.headers) {
    if (n === 'Via' || n === 'From' || n === 'Call-ID' || n === 'CSeq' || (n === 'Record-Route' && status >= 180 && status < 300)) headers.push([n, v]);
    else if (n === 'To') headers.push([n, opts.toTag && !/;\s*tag=/i.test(v) ? `${v};tag=${opts.toTag}` : v]);
  }
  if (opts.headers) headers.push(...opts.headers);
  return { kind: 'response', status, reason: opts.reason ?? REASONS[status] ?? 'Unknown', headers, body: opts.body ?? Buffer.alloc(0) };
}

export function randomToken(bytes = 8): string {
  return crypto.randomBytes(bytes).toString('hex');
}

export const BRANCH_MAGIC = 'z9hG4bK';
