import { describe, expect, it } from 'vitest';
import { decodeCtrlMessage } from '../../src/control/ctrlFrame';
import { encodeCtrl } from '../../src/native/tlv';

function frame(payload: string | Buffer, declared?: number): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(8);
  h.write('ctrl', 0, 'ascii');
  h.writeUInt32BE(declared ?? p.length, 4);
  return Buffer.concat([h, p]);
}

describe.each(['ts', 'native'] as const)('decodeCtrlMessage (%s)', (impl) => {
  it('decodes {"Command":"interrupt"}', () => {
    expect(decodeCtrlMessage(encodeCtrl({ Command: 'interrupt' }), { impl })).toEqual({ commands: [{ Command: 'interrupt' }], error: null });
  });

  it.each([
    ['bad magic', Buffer.from('CTRL\0\0\0\x02{}'), 'TLV_BAD_MAGIC'],
    ['length past the end', frame('{"Command":"interrupt"}', 40), 'TLV_TRUNCATED'],
    ['shorter than a header', Buffer.from('ctrl\0'), 'TLV_TRUNCATED'],
    ['empty message', Buffer.alloc(0), 'TLV_TRUNCATED'],
    ['oversize', frame('', 1 << 20), 'TLV_OVERSIZE'],
    ['invalid JSON', frame('{"Command":'), 'CTRL_INVALID_JSON'],
    ['invalid UTF-8', frame(Buffer.from([0x7b, 0xff, 0x7d])), 'CTRL_INVALID_JSON'],
    ['JSON that is not an object', frame('"interrupt"'), 'CTRL_INVALID_JSON'],
    ['unknown command', frame('{"Command":"selfdestruct"}'), 'CTRL_UNKNOWN_COMMAND'],
    ['missing command', frame('{"command":"interrupt"}'), 'CTRL_UNKNOWN_COMMAND'],
  ])('rejects %s with %s', (_name, msg, code) => {
    const r = decodeCtrlMessage(msg, { impl });
    expect(r.error?.code).toBe(code);
    expect(r.error?.message.length).toBeGreaterThan(10);
  });

  it('keeps commands decoded before a bad frame in the same message', () => {
    const r = decodeCtrlMessage(Buffer.concat([encodeCtrl({ Command: 'interrupt' }), Buffer.from('junk')]), { impl });
    expect(r.commands).toHaveLength(1);
    expect(r.error?.code).toBe('TLV_BAD_MAGIC');
  });
});
