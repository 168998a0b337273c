/** Polls `pred` every 5 ms until it holds; throws after `ms`. */
export async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Holds this thread (and its event loop) for `ms`: a busy or descheduled process. */
export function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}
