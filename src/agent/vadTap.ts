/**
 * A recording of what one session's barge-in detector was given: every packet of
 * user audio with its arrival time, and every frame of the far-end reference (the
 * agent audio sent, or silence) with its send time, in the order they happened,
 * plus the barge-ins decided. Replaying it (replayTap; the CLI is bench/vad/tap.ts)
 * runs the same pairing (FarEndReference) and the same VAD and gives the same
 * decisions, so a false barge-in seen live can be taken apart offline.
 *
 * Off unless `vadTapDir` is set; `vadTapRooms` (a regular expression) picks the
 * rooms. Records are batched into 64 KiB chunks per session so the tap adds one
 * write per ~1.5 s of audio, not one per packet.
 *
 * File: the line `VBTAP1`, one line of JSON (sampleRate, frameSamples,
 * interruptMs, roomId, agentId), then records: u8 kind, f64 time (ms since the
 * epoch), u16 sample count, that many PCM16 samples; all little-endian.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FarEndReference } from './farEnd';
import { VoiceInput } from './voiceInput';
import { createVad, type Vad } from '../native/vad';

export const TAP_MAGIC = 'VBTAP1';

export const TapKind = {
  /** User audio as pushed to the session; time = arrival of its packet. */
  User: 1,
  /** A reference frame (agent audio sent); time = when it was sent. */
  Ref: 2,
  /** A clock tick that sent nothing (0 samples). */
  RefSilent: 3,
  /** A barge-in decided (0 samples); time = the decision. */
  BargeIn: 4,
  /**
   * The next User record's time by the sender's clock (0 samples): what the far end
   * was paired by (src/media/mediaClock.ts). Absent: paired by arrival (older taps,
   * and transports without timestamps).
   */
  UserMedia: 5,
} as const;

export interface TapHeader {
  sampleRate: number;
  frameSamples: number;
  interruptMs: number;
  roomId: string;
  agentId: string;
}

const CHUNK = 64 * 1024;
const REC_HEAD = 11;
/** The file holds little-endian samples: on such a host they are copied as bytes in one call. */
const LE = os.endianness() === 'LE';

/** The bytes of `n` samples of pcm (a view, no copy). */
const bytesOf = (pcm: Int16Array, n: number) => new Uint8Array(pcm.buffer, pcm.byteOffset, 2 * n);

export class VadTapWriter {
  private readonly out: fs.WriteStream;
  private buf = Buffer.allocUnsafe(CHUNK);
  private len = 0;
  private closed = false;
  /** Records written (for tests and logs). */
  records = 0;

  constructor(file: string, header: TapHeader) {
    this.out = fs.createWriteStream(file);
    // a failing disk must not take the session down: the tap just stops
    this.out.on('error', () => {
      this.closed = true;
    });
    this.out.write(`${TAP_MAGIC}\n${JSON.stringify(header)}\n`);
  }

  record(kind: number, timeMs: number, pcm: Int16Array | null): void {
    if (this.closed) return;
    const n = pcm ? Math.min(pcm.length, 0xffff) : 0;
    const need = REC_HEAD + 2 * n;
    if (this.len + need > this.buf.length) this.flush(need);
    const b = this.buf;
    b.writeUInt8(kind, this.len);
    b.writeDoubleLE(timeMs, this.len + 1);
    b.writeUInt16LE(n, this.len + 9);
    const o = this.len + REC_HEAD;
    if (LE && n > 0) b.set(bytesOf(pcm!, n), o);
    else for (let i = 0; i < n; i++) b.writeInt16LE(pcm![i], o + 2 * i);
    this.len = o + 2 * n;
    this.records++;
  }

  private flush(room = 0): void {
    if (this.len > 0) this.out.write(this.buf.subarray(0, this.len));
    // the written chunk belongs to the stream now: a fresh one for what follows
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK, room));
    this.len = 0;
  }

  /** Writes what is left and closes the file (resolves once it is on disk, or failed). */
  close(): Promise<void> {
    if (!this.closed) {
      this.flush();
      this.closed = true;
      this.out.end();
    }
    return new Promise((resolve) => {
      if (this.out.closed) return resolve();
      this.out.once('close', () => resolve());
    });
  }
}

export interface TapRecord {
  kind: number;
  timeMs: number;
  pcm: Int16Array | null;
}

/** Reads a tap file (throws on a file that is not one; a truncated last record is dropped). */
export function readTap(file: string): { header: TapHeader; records: TapRecord[] } {
  const data = fs.readFileSync(file);
  const nl1 = data.indexOf(10);
  const nl2 = nl1 < 0 ? -1 : data.indexOf(10, nl1 + 1);
  if (nl1 < 0 || nl2 < 0 || data.subarray(0, nl1).toString() !== TAP_MAGIC) throw new Error(`${file}: not a VAD tap (no ${TAP_MAGIC} header)`);
  const header = JSON.parse(data.subarray(nl1 + 1, nl2).toString()) as TapHeader;
  const records: TapRecord[] = [];
  let o = nl2 + 1;
  while (o + REC_HEAD <= data.length) {
    const kind = data.readUInt8(o);
    const timeMs = data.readDoubleLE(o + 1);
    const n = data.readUInt16LE(o + 9);
    if (o + REC_HEAD + 2 * n > data.length) break;
    let pcm: Int16Array | null = null;
    if (n > 0) {
      pcm = new Int16Array(n);
      const at = o + REC_HEAD;
      if (LE) bytesOf(pcm, n).set(data.subarray(at, at + 2 * n));
      else for (let i = 0; i < n; i++) pcm[i] = data.readInt16LE(at + 2 * i);
    }
    records.push({ kind, timeMs, pcm });
    o += REC_HEAD + 2 * n;
  }
  return { header, records };
}

/** Opens taps for the sessions of the rooms that match, in `dir` (created if missing). */
export class VadTapSet {
  private readonly rooms: RegExp;

  constructor(
    private readonly dir: string,
    rooms: string,
  ) {
    this.rooms = new RegExp(rooms);
    fs.mkdirSync(dir, { recursive: true });
  }

  open(header: TapHeader): VadTapWriter | null {
    if (!this.rooms.test(header.roomId)) return null;
    const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
    return new VadTapWriter(path.join(this.dir, `${safe(header.roomId)}.${safe(header.agentId)}.vadtap`), header);
  }
}

/** What pairs user frames with reference frames (FarEndReference, or another rule to compare). */
export interface Pairing {
  onTick(atMs: number, frame: Int16Array | null): void;
  next(arrivalMs: number): Int16Array;
  resyncs: number;
}

export interface TapReplay {
  header: TapHeader;
  /** From the first user packet to the last. */
  minutes: number;
  /** Barge-ins the live session decided (decision times). */
  live: number[];
  /** "D reached" in the replay (arrival time of the deciding frame). */
  reached: number[];
  starts: number;
  resyncs: number;
  userPackets: number;
  refFrames: number;
}

/**
 * Replays a tap through a fresh VAD and pairing. `onFrame` sees every VAD frame
 * (arrival time of its packet, flags, the VAD after it).
 */
export function replayTap(
  file: string,
  opts: {
    impl?: 'native' | 'ts';
    pairing?: (frameSamples: number) => Pairing;
    /** What user frames are paired by: their media time where the tap has it (default), or their arrival. */
    pairBy?: 'media' | 'arrival';
    onFrame?: (arrivalMs: number, flags: number, vad: Vad) => void;
  } = {},
): TapReplay {
  const { header, records } = readTap(file);
  const frameMs = (1000 * header.frameSamples) / header.sampleRate;
  const vad = createVad({ sampleRate: header.sampleRate as 16000, frameMs: frameMs as 20, interruptSpeechDurationMs: header.interruptMs }, { impl: opts.impl });
  const ref: Pairing = opts.pairing?.(header.frameSamples) ?? new FarEndReference(header.frameSamples);
  const reached: number[] = [];
  let starts = 0;
  const input = new VoiceInput(
    vad,
    header.sampleRate,
    frameMs,
    (r, v) => {
      if (r.speechStart) starts++;
      if (r.durationReached) reached.push(v.frameArrivalMs);
      opts.onFrame?.(v.frameArrivalMs, r.flags, vad);
    },
    () => undefined,
  );
  const live: number[] = [];
  let userPackets = 0;
  let refFrames = 0;
  let t0 = NaN;
  let t1 = NaN;
  let media = NaN;
  for (const r of records) {
    if (r.kind === TapKind.UserMedia) {
      media = r.timeMs;
    } else if (r.kind === TapKind.User && r.pcm) {
      userPackets++;
      if (Number.isNaN(t0)) t0 = r.timeMs;
      t1 = r.timeMs;
      input.push(r.pcm, r.timeMs, ref as FarEndReference, opts.pairBy === 'arrival' || Number.isNaN(media) ? r.timeMs : media);
      media = NaN;
    } else if (r.kind === TapKind.Ref || r.kind === TapKind.RefSilent) {
      refFrames++;
      ref.onTick(r.timeMs, r.pcm);
    } else if (r.kind === TapKind.BargeIn) {
      live.push(r.timeMs);
    }
  }
  return { header, minutes: userPackets ? (t1 - t0) / 60000 : 0, live, reached, starts, resyncs: ref.resyncs, userPackets, refFrames };
}
