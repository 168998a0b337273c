/**
 * Cuts streamed LLM text into sentences so TTS can start on the first sentence
 * before the answer is complete.
 *
 * A sentence ends at `.`, `!`, `?`, `…` when followed by whitespace (closing
 * quotes and brackets stay with the sentence), at `。！？` at once, and at a
 * newline. Not at decimals (`3.5`), at common abbreviations (`Mr.`, `e.g.`), at
 * single-letter initials (`J. Smith`), or inside an ellipsis run. A sentence that
 * grows past `maxChars` without an end is cut at its last comma (or other clause
 * mark), else at its last space, else hard.
 *
 * Because a `.` at the end of the received text may be a decimal point or an
 * abbreviation, the splitter waits for the next character before cutting there;
 * `flush()` returns the rest at the end of the answer.
 */

export interface SentenceSplitterOptions {
  /** Longest sentence before a forced cut (default 200 characters). */
  maxChars?: number;
  /** Sentences shorter than this are held and joined with the next (default 1: never). */
  minChars?: number;
}

const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'vs', 'etc', 'e.g', 'i.e', 'no', 'fig', 'approx',
  'inc', 'ltd', 'co', 'corp', 'mt', 'gen', 'col', 'lt', 'sgt', 'capt', 'rev', 'hon', 'dept', 'est',
  'a.m', 'p.m', 'u.s', 'u.k', 'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct',
  'nov', 'dec',
]);

/** Terminators that end a sentence at once, without a following space (CJK full width). */
const IMMEDIATE = new Set(['。', '！', '？', '\n']);
/** Terminators that need whitespace (or the end of the text, at flush) after them. */
const SPACED = new Set(['.', '!', '?', '…']);
/** Characters that stay attached to the end of a sentence. */
const CLOSERS = new Set(['"', "'", ')', ']', '}', '”', '’', '」', '』', '）', '»']);
/** Clause marks preferred for a forced cut. */
const CLAUSE = new Set([',', '，', '、', ':', '：', ';', '；', '—']);

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n' || ch === '\u00a0' || ch === '\u3000';
}

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

export class SentenceSplitter {
  private buf = '';
  /** Index in `buf` up to which no sentence end was found (scan resumes there). */
  private scanned = 0;
  private readonly maxChars: number;
  private readonly minChars: number;

  constructor(options: SentenceSplitterOptions = {}) {
    this.maxChars = Math.max(8, options.maxChars ?? 200);
    this.minChars = Math.max(1, options.minChars ?? 1);
  }

  /** Adds a text delta; returns the sentences it completed (trimmed, non-empty). */
  push(delta: string): string[] {
    this.buf += delta;
    const out: string[] = [];
    for (;;) {
      const cut = this.findCut();
      if (cut < 0) break;
      this.emit(this.buf.slice(0, cut), out);
      this.buf = this.buf.slice(cut);
      this.scanned = 0;
    }
    return out;
  }

  /** End of the text: returns what is left (or null), and resets. */
  flush(): string | null {
    const rest = this.buf.trim();
    this.buf = '';
    this.scanned = 0;
    return rest.length > 0 ? rest : null;
  }

  /** Text received but not returned as a sentence yet. */
  get pending(): string {
    return this.buf;
  }

  private emit(raw: string, out: string[]): void {
    const s = raw.trim();
    if (s.length === 0) return;
    if (s.length < this.minChars) {
      // Too short alone: keep it at the head of the next sentence.
      this.buf = s + ' ' + this.buf;
      return;
    }
    out.push(s);
  }

  /** Returns the end index (exclusive) of the first complete sentence, or -1. */
  private findCut(): number {
    const b = this.buf;
    let i = this.scanned;
    for (; i < b.length; i++) {
      const ch = b[i]!;
      if (IMMEDIATE.has(ch)) {
        const end = this.extendClosers(i + 1);
        if (end < 0) return this.forced();
        if (b.slice(0, end).trim().length >= this.minChars || ch === '\n') return end;
        continue;
      }
      if (!SPACED.has(ch)) continue;
      // Runs like "?!" or "...": look at the end of the run.
      let j = i + 1;
      while (j < b.length && SPACED.has(b[j]!)) j++;
      const end = this.extendClosers(j);
      if (end < 0 || end >= b.length) {
        // Need the next character to decide.
        this.scanned = i;
        return this.forced();
      }
      if (!isSpace(b[end]!)) {
        i = j - 1;
        continue;
      }
      if (ch === '.' && j === i + 1 && this.isNonTerminalPeriod(i)) {
        i = j - 1;
        continue;
      }
      if (b.slice(0, end).trim().length < this.minChars) {
        i = j - 1;
        continue;
      }
      return end;
    }
    this.scanned = i;
    return this.forced();
  }

  /** Index after closing quotes/brackets following `from`; -1 when the text ends inside them. */
  private extendClosers(from: number): number {
    let k = from;
    while (k < this.buf.length && CLOSERS.has(this.buf[k]!)) k++;
    return k;
  }

  private isNonTerminalPeriod(i: number): boolean {
    const b = this.buf;
    // Decimal: digit '.' digit — the next char is a space here, so only "3. " style lists remain: a cut.
    if (isDigit(b[i - 1]) && isDigit(b[i + 1])) return true;
    // The word before the period.
    let s = i;
    while (s > 0 && !isSpace(b[s - 1]!) && !CLOSERS.has(b[s - 1]!) && b[s - 1] !== '(') s--;
    const word = b.slice(s, i).toLowerCase();
    if (word.length === 0) return false;
    if (ABBREVIATIONS.has(word)) return true;
    // Single-letter initial ("J. Smith"), or dotted abbreviation ("U.S.A.").
    if (/^[a-z]$/i.test(word) && /[A-Z]/.test(b[s]!)) return true;
    if (/^([a-z]\.)+[a-z]$/i.test(word)) return true;
    return false;
  }

  /** A forced cut when the pending text is longer than maxChars: -1 otherwise. */
  private forced(): number {
    const b = this.buf;
    if (b.length <= this.maxChars) return -1;
    const window = b.slice(0, this.maxChars);
    const floor = Math.floor(this.maxChars / 3);
    for (let k = window.length - 1; k >= floor; k--) {
      if (CLAUSE.has(window[k]!) && (k + 1 >= window.length || isSpace(window[k + 1]!) || window[k]! > '\u2fff')) {
        return k + 1;
      }
    }
    for (let k = window.length - 1; k >= floor; k--) if (isSpace(window[k]!)) return k + 1;
    // No space (e.g. CJK text without punctuation): hard cut, not inside a surrogate pair.
    let cut = this.maxChars;
    const code = b.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut--;
    return cut;
  }
}

/** Splits a whole text at once (for proactive TTS of a known text). */
export function splitSentences(text: string, options?: SentenceSplitterOptions): string[] {
  const s = new SentenceSplitter(options);
  const out = s.push(text);
  const rest = s.flush();
  if (rest) out.push(rest);
  return out;
}
