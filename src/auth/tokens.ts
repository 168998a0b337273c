/**
 * Signed, expiring, room-scoped join tokens: base64url(JSON claims) + "." +
 * base64url(HMAC-SHA256(secret, claims)). Verification checks signature, expiry
 * and the room it is presented for; failures carry a stable code.
 */
import crypto from 'node:crypto';
import { InvalidParameterError } from '../errors';

export type TokenRole = 'user' | 'human-agent' | 'gateway';

export interface TokenClaims {
  room: string;
  uid: string;
  role: TokenRole;
  /** Expiry, seconds since epoch. */
  exp: number;
  /** Agent instance a human-agent token takes over. */
  agent?: string;
}

function mac(secret: string, data: string): string {
  return crypto.createHmac('sha256', secret).update(data).digest('base64url');
}

export function signToken(secret: string, claims: Omit<TokenClaims, 'exp'>, ttlSec = 3600): string {
  const full: TokenClaims = { ...claims, exp: Math.floor(Date.now() / 1000) + ttlSec };
  const body = Buffer.from(JSON.stringify(full)).toString('base64url');
  return `${body}.${mac(secret, body)}`;
}

/** Verifies a token for `room`; throws InvalidParameterError with code Unauthorized.Token(Expired|Room). */
export function verifyToken(secret: string, token: unknown, room?: string): TokenClaims {
  if (typeof token !== 'string' || !token.includes('.')) throw new InvalidParameterError('Unauthorized.Token', 'missing or malformed token', 401);
  const [body, sig] = token.split('.', 2);
  const expect = mac(secret, body);
  const a = Buffer.from(sig ?? '');
  const b = Buffer.from(expect);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) throw new InvalidParameterError('Unauthorized.Token', 'token signature is invalid', 401);
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    throw new InvalidParameterError('Unauthorized.Token', 'token payload is malformed', 401);
  }
  if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) throw new InvalidParameterError('Unauthorized.TokenExpired', 'token has expired', 401);
  if (room !== undefined && claims.room !== room) throw new InvalidParameterError('Unauthorized.TokenRoom', `token is for another room`, 403);
  return claims;
}
