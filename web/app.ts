// The voxbridge room page: join a room with the microphone (mediasoup-client),
// hear the agent and the other participants, live subtitles (partials replaced
// by finals), an Interrupt button that sends the `ctrl` TLV frame on the data
// channel, connection state, and a human-agent console. No framework.
//
// Test hooks: `window.vb` exposes the state the e2e tests read (subtitles,
// messages, interrupt timings, agent audio level and getStats).
import { Device } from 'mediasoup-client';
import type { Transport, Consumer, DataProducer, DataConsumer, Producer } from 'mediasoup-client/lib/types';
import { Direction, SignalingClient, SignalingError } from './signalingClient';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

interface Subtitle {
  type: number;
  text: string;
  sentenceId: number;
  end: boolean;
  userId?: string;
  history?: boolean;
}

interface InterruptRecord {
  clickAt: number;
  /** Last moment agent audio was heard after the click (page clock, ms), in a WebAudio analyser on the agent track. */
  lastSoundAt: number | null;
  /** click → silence (below -50 dBFS for 300 ms), ms; null while measuring. */
  clickToSilenceMs: number | null;
}

const vb = {
  state: 'idle' as string,
  role: '' as string,
  userId: '' as string,
  roomId: '' as string,
  agentId: '' as string,
  subtitles: [] as Subtitle[],
  messages: [] as any[],
  events: [] as { at: number; what: string }[],
  interrupts: [] as InterruptRecord[],
  consumers: new Map<string, { consumer: Consumer; userId: string; fromAgent: boolean }>(),
  agentLevel: 0,
  agentLoudAt: 0,
  agentAudioEndedAt: null as number | null,
  /** inbound-rtp stats of the agent's audio (or of `userId`'s). */
  async agentStats(userId?: string): Promise<Record<string, number> | null> {
    for (const c of vb.consumers.values()) {
      if ((userId ? c.userId !== userId : !c.fromAgent) || c.consumer.closed) continue;
      const stats = await c.consumer.getStats();
      for (const s of stats.values()) if (s.type === 'inbound-rtp') {
          return {
            audioLevel: s.audioLevel ?? 0,
            totalAudioEnergy: s.totalAudioEnergy ?? 0,
            packetsReceived: s.packetsReceived ?? 0,
            jitterBufferMs: s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : 0,
            jitterBufferTargetMs: s.jitterBufferEmittedCount ? (1000 * (s.jitterBufferTargetDelay ?? 0)) / s.jitterBufferEmittedCount : 0,
            concealedSamples: s.concealedSamples ?? 0,
            totalSamplesDuration: s.totalSamplesDuration ?? 0,
          };
        }
    }
    return null;
  },
  interrupt: () => sendInterrupt(),
};
(window as any).vb = vb;

function log(what: string): void {
  vb.events.push({ at: performance.now(), what });
}

let demo = false;
let sig: SignalingClient | null = null;
let device: Device | null = null;
let sendTransport: Transport | null = null;
let recvTransport: Transport | null = null;
let micProducer: Producer | null = null;
let ctrlChannel: DataProducer | null = null;
let micStream: MediaStream | null = null;
let recvReady: Promise<Transport> | null = null;
let audioCtx: AudioContext | null = null;
let agentTimer: number | null = null;
const remoteAudio = new Map<string, HTMLAudioElement>();

function setState(id: string, text: string): void {
  $(id).textContent = text;
}

function notice(text: string): void {
  $('notice').textContent = text;
  log(`notice: ${text}`);
}

// ------------------------------------------------------------------ subtitles

const subtitleItems = new Map<string, HTMLLIElement>();

function speakerLabel(s: Subtitle): { who: string; cls: string } {
  if (s.type === 1002) return { who: s.userId && s.userId.startsWith('human') ? `Agent (${s.userId})` : 'Agent', cls: 'agent' };
  return { who: !s.userId || s.userId === vb.userId ? (vb.role === 'human-agent' ? 'User' : 'You') : s.userId, cls: 'user' };
}

function showSubtitle(s: Subtitle): void {
  vb.subtitles.push(s);
  const key = s.history || s.sentenceId === 0 ? `h${vb.subtitles.length}` : `${s.type}:${s.sentenceId}:${s.userId ?? ''}`;
  let li = subtitleItems.get(key);
  if (!li) {
    li = document.createElement('li');
    const who = document.createElement('span');
    who.className = 'who';
    const text = document.createElement('span');
    text.className = 'text';
    li.append(who, text);
    subtitleItems.set(key, li);
    $('subtitles').append(li);
  }
  const { who, cls } = speakerLabel(s);
  li.className = `${cls}${s.end ? '' : ' partial'}${s.history ? ' history' : ''}`;
  (li.firstChild as HTMLElement).textContent = `${who}:`;
  (li.lastChild as HTMLElement).textContent = s.text;
  li.setAttribute('data-type', String(s.type));
  li.scrollIntoView({ block: 'nearest' });
}

function onAgentMessage(raw: string | ArrayBuffer): void {
  let msg: any;
  try {
    msg = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
  } catch {
    return;
  }
  msg.receivedAt = performance.now();
  vb.messages.push(msg);
  if (msg.type === 1002 || msg.type === 1003) showSubtitle({ type: msg.type, ...msg.data });
  else if (msg.type === 'humanTakeoverWillStart') notice(`A human agent (${msg.data?.uid}) is taking over the call.`);
  else if (msg.type === 'humanTakeoverConnected') notice(`Human agent ${msg.data?.uid} is connected.`);
  else if (msg.type === 'agentEnded') notice(`The agent left: ${msg.data?.message ?? msg.data?.reason}`);
  else if (msg.type === 'error') {
    const li = document.createElement('li');
    li.className = 'error';
    li.textContent = `Error ${msg.data?.code}: ${msg.data?.message}`;
    $('subtitles').append(li);
  }
}

// ------------------------------------------------------------------ interrupt

const CTRL_INTERRUPT = (() => {
  const json = new TextEncoder().encode(JSON.stringify({ Command: 'interrupt' }));
  const b = new Uint8Array(8 + json.length);
  b.set([0x63, 0x74, 0x72, 0x6c]); // "ctrl"
  new DataView(b.buffer).setUint32(4, json.length, false);
  b.set(json, 8);
  return b;
})();

function sendInterrupt(): boolean {
  if (!ctrlChannel || ctrlChannel.readyState !== 'open') return false;
  const rec: InterruptRecord = { clickAt: performance.now(), lastSoundAt: null, clickToSilenceMs: null };
  vb.interrupts.push(rec);
  ctrlChannel.send(CTRL_INTERRUPT.slice().buffer);
  log('interrupt sent');
  return true;
}

/** Agent audio level at the page (2.7 ms windows, every 4 ms); closes interrupt measurements once 300 ms are silent. */
function watchAgentTrack(track: MediaStreamTrack): void {
  audioCtx ??= new AudioContext();
  void audioCtx.resume();
  const src = audioCtx.createMediaStreamSource(new MediaStream([track]));
  const an = audioCtx.createAnalyser();
  an.fftSize = 128;
  src.connect(an);
  const buf = new Float32Array(an.fftSize);
  const meter = $('agent-level') as HTMLMeterElement;
  if (agentTimer !== null) clearInterval(agentTimer);
  agentTimer = window.setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let s = 0;
    for (let i = 0; i < buf.length; i++) s += buf[i]! * buf[i]!;
    const rms = Math.sqrt(s / buf.length);
    const now = performance.now();
    vb.agentLevel = rms;
    meter.value = Math.min(1, rms * 8);
    if (rms > 0.003) vb.agentLoudAt = now;
    for (const r of vb.interrupts) {
      if (r.clickToSilenceMs !== null) continue;
      if (vb.agentLoudAt > r.clickAt) r.lastSoundAt = vb.agentLoudAt;
      if (now - Math.max(r.clickAt, vb.agentLoudAt) >= 300) r.clickToSilenceMs = Math.max(0, (r.lastSoundAt ?? r.clickAt) - r.clickAt);
    }
  }, 4);
}

// ------------------------------------------------------------------ join

async function api(path: string, body: unknown): Promise<any> {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await res.json();
  if (!res.ok) throw new Error(`${j.Code}: ${j.Message}`);
  return j;
}

function tokenRole(token: string): string {
  try {
    const body = token.split('.')[0]!.replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(body)).role ?? 'user';
  } catch {
    return 'user';
  }
}

async function join(roomId: string, token: string, startAgent: boolean): Promise<void> {
  if (!token) {
    if (!demo) throw new Error('a join token is required');
    token = (await api('/demo/token', { roomId })).token;
  }
  vb.state = 'connecting';
  setState('st-signaling', 'connecting…');
  micStream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  sig = new SignalingClient();
  sig.onNotification = (body, n) => void onNotification(body, n).catch((e) => log(`notification ${body} failed: ${e}`));
  sig.onClose = (code, _reason, closing) => {
    setState('st-signaling', closing ? `closed: ${closing.code} — ${closing.message}` : `closed (${code})`);
    vb.state = 'closed';
    cleanup();
  };
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  await sig.connect(`${proto}://${location.host}/ws`);
  const joined = await sig.request('join', { roomId, token });
  vb.role = joined.role === 2 ? 'human-agent' : 'user';
  vb.userId = joined.userId;
  vb.roomId = roomId;
  setState('st-signaling', 'joined');
  setState('st-me', `${joined.userId} (${vb.role === 'human-agent' ? 'human agent' : 'user'}) in room ${roomId}`);
  if (joined.agents?.length) agentSeen(joined.agents[0]);

  const caps = await sig.request('getRouterRtpCapabilities');
  device = await createDevice();
  await device.load({ routerRtpCapabilities: JSON.parse(caps.rtpCapabilitiesJson) });
  const sctpJson = JSON.stringify(device.sctpCapabilities);
  await sig.request('setRtpCapabilities', { rtpCapabilitiesJson: JSON.stringify(device.rtpCapabilities), sctpCapabilitiesJson: sctpJson });

  recvReady = (async () => {
    const t = await sig!.request('createWebrtcTransport', { direction: Direction.RECV, sctpCapabilitiesJson: sctpJson });
    recvTransport = device!.createRecvTransport(transportOptions(t));
    wireTransport(recvTransport, 'st-recv');
    return recvTransport;
  })();
  await recvReady;

  const st = await sig.request('createWebrtcTransport', { direction: Direction.SEND, sctpCapabilitiesJson: sctpJson });
  sendTransport = device.createSendTransport(transportOptions(st));
  wireTransport(sendTransport, 'st-send');
  sendTransport.on('produce', ({ kind, rtpParameters, appData }, ok, fail) => {
    sig!.request('produce', { transportId: sendTransport!.id, kind, rtpParametersJson: JSON.stringify(rtpParameters), appDataJson: JSON.stringify(appData ?? {}) })
      .then((r) => ok({ id: r.producerId }), fail);
  });
  sendTransport.on('producedata', ({ sctpStreamParameters, label, protocol }, ok, fail) => {
    sig!.request('produceData', { transportId: sendTransport!.id, sctpStreamParametersJson: JSON.stringify(sctpStreamParameters), label, protocol })
      .then((r) => ok({ id: r.dataProducerId }), fail);
  });
  micProducer = await sendTransport.produce({ track: micStream.getAudioTracks()[0]!, codecOptions: { opusStereo: false, opusDtx: false, opusFec: true } });
  ctrlChannel = await sendTransport.produceData({ ordered: true, label: 'ctrl', protocol: 'tlv' });
  setState('st-ctrl', 'opening…');
  const ctrlOpen = (): void => {
    setState('st-ctrl', 'open');
    ($('interrupt') as HTMLButtonElement).disabled = vb.role !== 'user';
  };
  // The channel may have opened during the ProduceData round trip.
  if (ctrlChannel.readyState === 'open') ctrlOpen();
  else ctrlChannel.on('open', ctrlOpen);
  ctrlChannel.on('close', () => setState('st-ctrl', 'closed'));
  vb.state = 'joined';
  ($('leave') as HTMLButtonElement).disabled = false;
  ($('mute') as HTMLButtonElement).disabled = false;
  ($('join') as HTMLButtonElement).disabled = true;
  if (vb.role === 'human-agent') notice('You are the human agent: the user hears you now.');
  if (startAgent && demo && vb.role === 'user' && !vb.agentId) {
    const a = await api('/demo/agent', { roomId });
    log(`demo agent ${a.agentInstanceId}`);
  }
}

async function createDevice(): Promise<Device> {
  try {
    return new Device();
  } catch {
    // Browsers mediasoup-client does not recognise by name (e.g. new headless builds) are Chromium inside.
    return new Device({ handlerName: 'Chrome111' });
  }
}

function transportOptions(t: any): any {
  return {
    id: t.transportId,
    iceParameters: JSON.parse(t.iceParametersJson),
    iceCandidates: JSON.parse(t.iceCandidatesJson),
    dtlsParameters: JSON.parse(t.dtlsParametersJson),
    sctpParameters: t.sctpParametersJson ? JSON.parse(t.sctpParametersJson) : undefined,
  };
}

function wireTransport(t: Transport, stateId: string): void {
  setState(stateId, 'new');
  t.on('connect', ({ dtlsParameters }, ok, fail) => {
    sig!.request('connectTransport', { transportId: t.id, dtlsParametersJson: JSON.stringify(dtlsParameters) }).then(() => ok(), fail);
  });
  t.on('connectionstatechange', (s) => {
    setState(stateId, s);
    log(`${stateId} ${s}`);
    if (s === 'failed' || s === 'disconnected') void sig?.request('restartIce', { transportId: t.id }).then((r) => t.restartIce({ iceParameters: JSON.parse(r.iceParametersJson) }), () => {});
  });
}

function agentSeen(a: { agentInstanceId: string; userId: string; state?: string }): void {
  vb.agentId = a.agentInstanceId;
  setState('st-agent', `${a.userId} (${a.agentInstanceId})`);
}

async function onNotification(body: string, n: any): Promise<void> {
  log(`notification ${body}`);
  switch (body) {
    case 'newConsumer': {
      const t = await recvReady!;
      const consumer = await t.consume({ id: n.consumerId, producerId: n.producerId, kind: n.kind, rtpParameters: JSON.parse(n.rtpParametersJson) });
      vb.consumers.set(consumer.id, { consumer, userId: n.userId, fromAgent: n.fromAgent });
      const el = document.createElement('audio');
      el.autoplay = true;
      el.srcObject = new MediaStream([consumer.track]);
      el.setAttribute('data-user', n.userId);
      document.body.append(el);
      remoteAudio.set(consumer.id, el);
      void el.play().catch(() => notice('Press anywhere on the page to allow audio playback.'));
      if (n.fromAgent) watchAgentTrack(consumer.track);
      await sig!.request('resumeConsumer', { consumerId: consumer.id });
      break;
    }
    case 'consumerClosed': {
      const c = vb.consumers.get(n.consumerId);
      if (c) {
        c.consumer.close();
        if (c.fromAgent) {
          vb.agentAudioEndedAt = performance.now();
          log('agent audio ended');
        }
        vb.consumers.delete(n.consumerId);
      }
      remoteAudio.get(n.consumerId)?.remove();
      remoteAudio.delete(n.consumerId);
      break;
    }
    case 'newDataConsumer': {
      const t = await recvReady!;
      const dc: DataConsumer = await t.consumeData({ id: n.dataConsumerId, dataProducerId: n.dataProducerId, sctpStreamParameters: JSON.parse(n.sctpStreamParametersJson), label: n.label, protocol: n.protocol });
      dc.on('message', (m: string | ArrayBuffer) => onAgentMessage(m));
      const ready = (): void => void sig!.request('dataConsumerReady', { dataConsumerId: dc.id }).catch(() => {});
      if (dc.readyState === 'open') ready();
      else dc.on('open', ready);
      break;
    }
    case 'agentJoined':
      agentSeen(n.agent);
      break;
    case 'agentLeft':
      setState('st-agent', `left (${n.reason})`);
      vb.agentId = '';
      break;
    case 'peerJoined':
      log(`peer joined ${n.peer.userId}`);
      break;
    case 'peerLeft':
      log(`peer left ${n.userId}`);
      break;
  }
}

function cleanup(): void {
  micStream?.getTracks().forEach((t) => t.stop());
  sendTransport?.close();
  recvTransport?.close();
  for (const el of remoteAudio.values()) el.remove();
  remoteAudio.clear();
  vb.consumers.clear();
  if (agentTimer !== null) clearInterval(agentTimer);
  agentTimer = null;
  sendTransport = recvTransport = null;
  ctrlChannel = null;
  micProducer = null;
  ($('interrupt') as HTMLButtonElement).disabled = true;
  ($('leave') as HTMLButtonElement).disabled = true;
  ($('mute') as HTMLButtonElement).disabled = true;
  ($('join') as HTMLButtonElement).disabled = false;
  setState('st-send', '—');
  setState('st-recv', '—');
  setState('st-ctrl', '—');
}

async function leave(): Promise<void> {
  try {
    await sig?.request('leave');
  } catch {
    /* closing anyway */
  }
  sig?.close();
}

// ------------------------------------------------------------------ page

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  ($('room') as HTMLInputElement).value = params.get('room') ?? 'demo';
  ($('token') as HTMLTextAreaElement).value = params.get('token') ?? '';
  try {
    demo = !!(await (await fetch('config.json')).json()).demo;
  } catch {
    demo = false;
  }
  for (const el of document.querySelectorAll<HTMLElement>('.demo-only')) el.hidden = !demo;
  $('demo-banner').hidden = !demo;

  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    audioCtx ??= new AudioContext();
    const room = ($('room') as HTMLInputElement).value.trim();
    const token = ($('token') as HTMLTextAreaElement).value.trim();
    const startAgent = ($('start-agent') as HTMLInputElement).checked && tokenRole(token) !== 'human-agent';
    ($('join') as HTMLButtonElement).disabled = true;
    join(room, token, startAgent).catch((e) => {
      const msg = e instanceof SignalingError ? `${e.code}: ${e.message}` : String(e?.message ?? e);
      notice(`Could not join: ${msg}`);
      vb.state = 'failed';
      sig?.close();
      cleanup();
    });
  });
  $('leave').addEventListener('click', () => void leave());
  $('mute').addEventListener('click', () => {
    if (!micProducer) return;
    const b = $('mute');
    if (micProducer.paused) micProducer.resume();
    else micProducer.pause();
    b.setAttribute('aria-pressed', String(micProducer.paused));
    b.textContent = micProducer.paused ? 'Unmute microphone' : 'Mute microphone';
  });
  $('interrupt').addEventListener('click', () => {
    if (!sendInterrupt()) notice('The control channel is not open yet.');
  });
  $('takeover').addEventListener('click', () => {
    const room = ($('room') as HTMLInputElement).value.trim();
    api('/demo/takeover', { roomId: room, agentInstanceId: vb.agentId || undefined })
      .then(async (r) => {
        if (sig) await leave();
        ($('token') as HTMLTextAreaElement).value = r.token;
        notice('Takeover started: joining as the human agent…');
        await join(room, r.token, false);
      })
      .catch((e) => notice(`Takeover failed: ${e.message ?? e}`));
  });
}

void main();
