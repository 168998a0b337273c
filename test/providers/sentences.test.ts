import { describe, expect, it } from 'vitest';
import { SentenceSplitter, splitSentences } from '../../src/providers/sentences';

/** Feeds `text` in pieces of `size` characters and collects every sentence. */
function streamed(text: string, size: number, maxChars?: number): string[] {
  const s = new SentenceSplitter(maxChars !== undefined ? { maxChars } : {});
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(...s.push(text.slice(i, i + size)));
  const rest = s.flush();
  if (rest) out.push(rest);
  return out;
}

describe('SentenceSplitter', () => {
  it('cuts at . ! ? followed by a space', () => {
    expect(splitSentences('Hello there. How are you? Great! Bye')).toEqual([
      'Hello there.',
      'How are you?',
      'Great!',
      'Bye',
    ]);
  });

  it('returns a sentence as soon as the character after its end arrives', () => {
    const s = new SentenceSplitter();
    expect(s.push('Hello there.')).toEqual([]);
    expect(s.push(' H')).toEqual(['Hello there.']);
    expect(s.pending).toBe(' H');
  });

  it('does not cut at decimals, abbreviations or initials', () => {
    expect(splitSentences('It costs 3.5 dollars. Mr. Smith and Dr. Who met J. R. Tolkien at 5 p.m. today. Yes.')).toEqual([
      'It costs 3.5 dollars.',
      'Mr. Smith and Dr. Who met J. R. Tolkien at 5 p.m. today.',
      'Yes.',
    ]);
    expect(splitSentences('Use e.g. this one, i.e. the first. Done')).toEqual(['Use e.g. this one, i.e. the first.', 'Done']);
  });

  it('keeps closing quotes and brackets with the sentence, and groups ?! and ...', () => {
    expect(splitSentences('He said "stop." Then (quietly.) Really?! Well... ok')).toEqual([
      'He said "stop."',
      'Then (quietly.)',
      'Really?!',
      'Well...',
      'ok',
    ]);
  });

  it('cuts CJK sentences at 。！？ without a space, and at newlines', () => {
    expect(splitSentences('你好。今天天气很好！你呢？好的')).toEqual(['你好。', '今天天气很好！', '你呢？', '好的']);
    expect(splitSentences('Line one\nLine two\n\nLine three')).toEqual(['Line one', 'Line two', 'Line three']);
  });

  it('gives the same sentences whatever the delta sizes', () => {
    const text = 'First one. The price is 4.99 today! Is it? Mr. Brown said "yes." 你好。Last line\nEnd';
    const expected = splitSentences(text);
    for (const size of [1, 2, 3, 5, 7, 13, 1000]) expect(streamed(text, size), `size ${size}`).toEqual(expected);
  });

  it('cuts a long sentence without an end at a comma, else at a space, within maxChars', () => {
    const text =
      'this is a very long sentence without any full stop, which keeps going and going and going with words ' +
      'and more words that never end until much later';
    const out = streamed(text, 4, 60);
    for (const s of out) expect(s.length).toBeLessThanOrEqual(60);
    expect(out[0]).toBe('this is a very long sentence without any full stop,');
    expect(out.join(' ')).toBe(text);
    const noSpace = '字'.repeat(130);
    const cut = streamed(noSpace, 10, 50);
    expect(cut.every((s) => s.length <= 50)).toBe(true);
    expect(cut.join('')).toBe(noSpace);
  });

  it('flush returns null when nothing is pending', () => {
    const s = new SentenceSplitter();
    expect(s.push('Done. ')).toEqual(['Done.']);
    expect(s.flush()).toBeNull();
  });
});
