/**
 * HTTP Digest authentication for SIP (RFC 2617 / RFC 7616 with MD5 and MD5-sess,
 * qop=auth or none), client side: answer a 401 WWW-Authenticate or 407
 * Proxy-Authenticate challenge for REGISTER and INVITE.
 */
import crypto from 'node:crypto';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: 'MD5' | 'MD5-sess';
  qop?: 'auth';
  stale: boolean;
}

export class DigestError extends Error {
  override readonly name = 'DigestError';
  constructor(
    readonly code: 'SIP_AUTH_UNSUPPORTED' | 'SIP_AUTH_MALFORMED',
    message: string,
  ) {
    super(message);
  }
}

/** Parses `Digest realm="x", nonce="y", ...`; rejects what we cannot answer. */
export function parseChallenge(v: string): DigestChallenge {
  const m = /^\s*Digest\s+(.*)$/is.exec(v);
  if (!m) throw new DigestError('SIP_AUTH_UNSUPPORTED', 'only Digest authentication is supported');
  const p: Record<string, string> = {};
  const re = /([A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?/g;
  let x: RegExpExecArray | null;
  while ((x = re.exec(m[1]))) p[x[1].toLowerCase()] = x[2] !== undefined ? x[2].replace(/\\(.)/g, '$1') : x[3];
  if (!p.realm || !p.nonce) throw new DigestError('SIP_AUTH_MALFORMED', 'challenge without realm or nonce');
  const alg = (p.algorithm ?? 'MD5').toUpperCase();
  if (alg !== 'MD5' && alg !== 'MD5-SESS') throw new DigestError('SIP_AUTH_UNSUPPORTED', `digest algorithm ${alg} is not supported (MD5, MD5-sess)`);
  let qop: 'auth' | undefined;
  if (p.qop !== undefined) {
    const opts = p.qop.split(',').map((s) => s.trim().toLowerCase());
    if (!opts.includes('auth')) throw new DigestError('SIP_AUTH_UNSUPPORTED', `qop ${p.qop} is not supported (auth)`);
    qop = 'auth';
  }
  return { realm: p.realm, nonce: p.nonce, opaque: p.opaque, algorithm: alg === 'MD5' ? 'MD5' : 'MD5-sess', qop, stale: (p.stale ?? '').toLowerCase() === 'true' };
}

const md5 = (s: string): string => crypto.createHash('md5').update(s, 'utf8').digest('hex');

export interface DigestCredentials {
  username: string;
  password: string;
}

/** The Authorization / Proxy-Authorization value for `method uri`. */
export function authorize(ch: DigestChallenge, cred: DigestCredentials, method: string, uri: string, nc = 1, cnonce = crypto.randomBytes(8).toString('hex')): string {
  let ha1 = md5(`${cred.username}:${ch.realm}:${cred.password}`);
  if (ch.algorithm === 'MD5-sess') ha1 = md5(`${ha1}:${ch.nonce}:${cnonce}`);
  const ha2 = md5(`${method}:${uri}`);
  const ncs = nc.toString(16).padStart(8, '0');
  const response = ch.qop ? md5(`${ha1}:${ch.nonce}:${ncs}:${cnonce}:auth:${ha2}`) : md5(`${ha1}:${ch.nonce}:${ha2}`);
  const q = (s: string): string => `"${s.replace(/(["\\])/g, '\\$1')}"`;
  const parts = [`username=${q(cred.username)}`, `realm=${q(ch.realm)}`, `nonce=${q(ch.nonce)}`, `uri=${q(uri)}`, `response=${q(response)}`, `algorithm=${ch.algorithm}`];
  if (ch.qop) parts.push(`qop=auth`, `nc=${ncs}`, `cnonce=${q(cnonce)}`);
  if (ch.opaque !== undefined) parts.push(`opaque=${q(ch.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}
