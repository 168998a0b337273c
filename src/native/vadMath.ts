/** Arithmetic the TypeScript VAD fallback shares bit for bit with native/src/vad.cpp. */
// db10(x) = 10 log10(x) for x > 0, computed as in vad.cpp (exponent from the bits,
// atanh series for the mantissa), so both sides get the same double.
const dbView = new DataView(new ArrayBuffer(8));
export function db10(x: number): number {
  dbView.setFloat64(0, x);
  const hi = dbView.getUint32(0);
  let e = ((hi >>> 20) & 0x7ff) - 1023;
  dbView.setUint32(0, (hi & 0x000fffff) | 0x3ff00000);
  let m = dbView.getFloat64(0);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  const t = (m - 1) / (m + 1);
  const t2 = t * t;
  const ln = 2 * t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9)))));
  return 4.342944819032518 * (ln + e * 0.6931471805599453);
}

export function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
export function clampTo(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
