/** G.711 μ-law and A-law (ITU-T G.711) with lookup tables for decoding. */

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;

export function linearToMulaw(sample: number): number {
  let s = sample;
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > MULAW_CLIP) s = MULAW_CLIP;
  s += MULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

export function mulawToLinear(u: number): number {
  const v = ~u & 0xff;
  const sign = v & 0x80;
  const exponent = (v >> 4) & 0x07;
  const mantissa = v & 0x0f;
  const s = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return sign ? -s : s;
}

export function linearToAlaw(sample: number): number {
  let s = sample;
  const sign = s >= 0 ? 0x80 : 0;
  if (s < 0) s = -s - 1;
  if (s > 32767) s = 32767;
  let out: number;
  if (s < 256) out = s >> 4;
  else {
    let exponent = 7;
    for (let mask = 0x4000; (s & mask) === 0 && exponent > 1; mask >>= 1) exponent--;
    out = (exponent << 4) | ((s >> (exponent + 3)) & 0x0f);
  }
  return (out | sign) ^ 0x55;
}

export function alawToLinear(a: number): number {
  const v = a ^ 0x55;
  const sign = v & 0x80;
  const exponent = (v >> 4) & 0x07;
  const mantissa = v & 0x0f;
  let s = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return sign ? s : -s;
}

const MULAW_TABLE = new Int16Array(256);
const ALAW_TABLE = new Int16Array(256);
for (let i = 0; i < 256; i++) {
  MULAW_TABLE[i] = mulawToLinear(i);
  ALAW_TABLE[i] = alawToLinear(i);
}

export type G711Law = 'PCMU' | 'PCMA';

export function decodeG711(law: G711Law, src: Uint8Array, dst: Int16Array = new Int16Array(src.length)): Int16Array {
  const t = law === 'PCMU' ? MULAW_TABLE : ALAW_TABLE;
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
  return dst;
}

export function encodeG711(law: G711Law, src: Int16Array, dst: Uint8Array = new Uint8Array(src.length)): Uint8Array {
  const f = law === 'PCMU' ? linearToMulaw : linearToAlaw;
  for (let i = 0; i < src.length; i++) dst[i] = f(src[i]);
  return dst;
}
