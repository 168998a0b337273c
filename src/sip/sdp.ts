/**
 * SDP (RFC 4566) for one audio stream, offer/answer (RFC 3264): parse the peer's
 * description, pick the codec, build ours. Only what a phone leg needs: the
 * first audio m-line, its connection address, rtpmap/fmtp/ptime, direction,
 * telephone-event (RFC 4733), a=ssrc and rtcp-mux. Errors carry stable codes.
 */
import type { SipCodecName } from '../transports/telephonyConfig';

export class SdpError extends Error {
  override readonly name = 'SdpError';
  constructor(
    readonly code: 'SDP_MALFORMED' | 'SDP_NO_AUDIO' | 'SDP_NO_COMMON_CODEC',
    message: string,
  ) {
    super(message);
  }
}

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface SdpCodec {
  pt: number;
  name: string;
  clockRate: number;
  channels: number;
  fmtp?: string;
}

export interface AudioDescription {
  address: string;
  port: number;
  codecs: SdpCodec[];
  direction: Direction;
  ssrc: number | null;
  rtcpMux: boolean;
  ptime: number | null;
}

export interface SessionDescription {
  origin: { username: string; sessionId: string; version: number; address: string };
  audio: AudioDescription;
}

const STATIC: Record<number, [string, number, number]> = {
  0: ['PCMU', 8000, 1],
  8: ['PCMA', 8000, 1],
  9: ['G722', 8000, 1],
  18: ['G729', 8000, 1],
};

export function parseSdp(text: string): SessionDescription {
  if (text.length > 16384) throw new SdpError('SDP_MALFORMED', 'SDP over 16 KiB');
  const lines = text.split(/\r?\n/).filter((l) => l.length);
  if (!lines.length || !/^v=0\s*$/.test(lines[0])) throw new SdpError('SDP_MALFORMED', 'SDP must start with v=0');
  let sessionAddr = '';
  let origin: SessionDescription['origin'] | null = null;
  let sessionDir: Direction | null = null;
  let audio: (AudioDescription & { pts: number[]; addr: string }) | null = null;
  let inAudio = false;
  let seenAudio = false;
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) throw new SdpError('SDP_MALFORMED', `bad SDP line ${JSON.stringify(line.slice(0, 40))}`);
    const t = line[0];
    const v = line.slice(2).trim();
    if (t === 'o') {
      const p = v.split(/\s+/);
      if (p.length < 6) throw new SdpError('SDP_MALFORMED', 'bad o= line');
      origin = { username: p[0], sessionId: p[1], version: Number(p[2]) || 0, address: p[5] };
    } else if (t === 'c') {
      const m = /^IN\s+IP[46]\s+(\S+)/.exec(v);
      if (!m) throw new SdpError('SDP_MALFORMED', 'bad c= line');
      const addr = m[1].split('/')[0];
      if (inAudio && audio) audio.addr = addr;
      else if (!seenAudio) sessionAddr = addr;
    } else if (t === 'm') {
      inAudio = false;
      const m = /^(\w+)\s+(\d{1,5})(?:\/\d+)?\s+(\S+)((?:\s+\S+)*)$/.exec(v);
      if (!m) throw new SdpError('SDP_MALFORMED', 'bad m= line');
      if (m[1] === 'audio' && !seenAudio) {
        seenAudio = true;
        inAudio = true;
        if (!/^RTP\/(S?AVPF?)$/.test(m[3])) throw new SdpError('SDP_MALFORMED', `unsupported transport ${m[3]}`);
        const pts = m[4].trim().split(/\s+/).filter(Boolean).map(Number);
        if (pts.some((n) => !Number.isInteger(n) || n < 0 || n > 127)) throw new SdpError('SDP_MALFORMED', 'bad payload types');
        audio = { address: '', addr: '', port: Number(m[2]), pts, codecs: [], direction: 'sendrecv', ssrc: null, rtcpMux: false, ptime: null };
      }
    } else if (t === 'a') {
      const dir = /^(sendrecv|sendonly|recvonly|inactive)$/.exec(v)?.[1] as Direction | undefined;
      if (dir) {
        if (inAudio && audio) audio.direction = dir;
        else if (!seenAudio) sessionDir = dir;
        continue;
      }
      if (!inAudio || !audio) continue;
      let m = /^rtpmap:(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(v);
      if (m) {
        const pt = Number(m[1]);
        audio.codecs = audio.codecs.filter((c) => c.pt !== pt);
        audio.codecs.push({ pt, name: m[2], clockRate: Number(m[3]), channels: m[4] ? Number(m[4]) : 1 });
        continue;
      }
      m = /^fmtp:(\d+)\s+(.*)$/.exec(v);
      if (m) {
        const c = audio.codecs.find((x) => x.pt === Number(m![1]));
        if (c) c.fmtp = m[2];
        else audio.codecs.push({ pt: Number(m[1]), name: '', clockRate: 0, channels: 1, fmtp: m[2] });
        continue;
      }
      m = /^ssrc:(\d+)/.exec(v);
      if (m && audio.ssrc === null) audio.ssrc = Number(m[1]) >>> 0;
      else if (v === 'rtcp-mux') audio.rtcpMux = true;
      else if ((m = /^ptime:(\d+)/.exec(v))) audio.ptime = Number(m[1]);
    }
  }
  if (!origin) throw new SdpError('SDP_MALFORMED', 'missing o= line');
  if (!audio) throw new SdpError('SDP_NO_AUDIO', 'no audio stream in the SDP');
  // Codecs in m-line order; static payload types need no rtpmap.
  const codecs: SdpCodec[] = [];
  for (const pt of audio.pts) {
    const mapped = audio.codecs.find((c) => c.pt === pt && c.name);
    const fmtp = audio.codecs.find((c) => c.pt === pt)?.fmtp;
    if (mapped) codecs.push({ ...mapped, fmtp });
    else if (STATIC[pt]) codecs.push({ pt, name: STATIC[pt][0], clockRate: STATIC[pt][1], channels: STATIC[pt][2], fmtp });
  }
  const address = audio.addr || sessionAddr;
  if (!address) throw new SdpError('SDP_MALFORMED', 'no connection address');
  return {
    origin,
    audio: {
      address,
      port: audio.port,
      codecs,
      direction: audio.direction !== 'sendrecv' || !sessionDir ? audio.direction : sessionDir,
      ssrc: audio.ssrc,
      rtcpMux: audio.rtcpMux,
      ptime: audio.ptime,
    },
  };
}

export interface Negotiated {
  codec: SdpCodec & { kind: SipCodecName };
  /** telephone-event payload type at 8000 Hz, when both sides support it. */
  dtmfPt: number | null;
}

export function codecKind(c: SdpCodec): SipCodecName | null {
  const n = c.name.toUpperCase();
  if (n === 'PCMU' && c.clockRate === 8000) return 'PCMU';
  if (n === 'PCMA' && c.clockRate === 8000) return 'PCMA';
  if (n === 'OPUS' && c.clockRate === 48000) return 'opus';
  return null;
}

/**
 * Picks the first codec of the offer that we support (the offerer's preference),
 * among `ours`. `accept` can veto a codec (e.g. an Opus payload type we cannot send).
 */
export function negotiate(offer: AudioDescription, ours: SipCodecName[], dtmf: boolean, accept: (c: SdpCodec, kind: SipCodecName) => boolean = () => true): Negotiated {
  for (const c of offer.codecs) {
    const kind = codecKind(c);
    if (kind && ours.includes(kind) && accept(c, kind)) {
      const te = dtmf ? offer.codecs.find((x) => x.name.toLowerCase() === 'telephone-event' && x.clockRate === 8000) : undefined;
      return { codec: { ...c, kind }, dtmfPt: te ? te.pt : null };
    }
  }
  const offered = offer.codecs.map((c) => `${c.name}/${c.clockRate}`).join(', ') || 'none';
  throw new SdpError('SDP_NO_COMMON_CODEC', `no common codec: offered ${offered}; supported ${ours.join(', ')}`);
}

export const CODEC_DEFAULTS: Record<SipCodecName, SdpCodec> = {
  PCMU: { pt: 0, name: 'PCMU', clockRate: 8000, channels: 1 },
  PCMA: { pt: 8, name: 'PCMA', clockRate: 8000, channels: 1 },
  opus: { pt: 111, name: 'opus', clockRate: 48000, channels: 2, fmtp: 'minptime=10;useinbandfec=1' },
};

export interface BuildOptions {
  sessionId: string;
  version: number;
  address: string;
  port: number;
  codecs: SdpCodec[];
  dtmfPt: number | null;
  direction: Direction;
  rtcpMux?: boolean;
  ssrc?: number;
}

export function buildSdp(o: BuildOptions): string {
  const ip = o.address.includes(':') ? 'IP6' : 'IP4';
  const pts = o.codecs.map((c) => c.pt);
  if (o.dtmfPt !== null) pts.push(o.dtmfPt);
  const lines = [
    'v=0',
    `o=voxbridge ${o.sessionId} ${o.version} IN ${ip} ${o.address}`,
    's=voxbridge',
    `c=IN ${ip} ${o.address}`,
    't=0 0',
    `m=audio ${o.port} RTP/AVP ${pts.join(' ')}`,
  ];
  for (const c of o.codecs) {
    lines.push(`a=rtpmap:${c.pt} ${c.name}/${c.clockRate}${c.channels > 1 ? `/${c.channels}` : ''}`);
    if (c.fmtp) lines.push(`a=fmtp:${c.pt} ${c.fmtp}`);
  }
  if (o.dtmfPt !== null) lines.push(`a=rtpmap:${o.dtmfPt} telephone-event/8000`, `a=fmtp:${o.dtmfPt} 0-16`);
  lines.push('a=ptime:20');
  if (o.rtcpMux) lines.push('a=rtcp-mux');
  if (o.ssrc !== undefined) lines.push(`a=ssrc:${o.ssrc} cname:voxbridge`);
  lines.push(`a=${o.direction}`);
  return lines.join('\r\n') + '\r\n';
}

/** The direction we answer with for an offered direction. */
export function answerDirection(d: Direction): Direction {
  return d === 'sendonly' ? 'recvonly' : d === 'recvonly' ? 'sendonly' : d;
}

/** Held by the peer (RFC 3264 §8.4 / old-style c=0.0.0.0). */
export function isHold(a: AudioDescription): boolean {
  return a.direction === 'sendonly' || a.direction === 'inactive' || a.address === '0.0.0.0';
}
