// Cooperative time slicing for synchronous file-system loops: fast sync system calls, with a
// yield to the event loop at most every SLICE_MS so servers and progress bars stay responsive.
const SLICE_MS = 20;

export interface TimeSlicer {
  /** Resolves at once inside a slice; otherwise yields first (and then checks `signal`). */
  pause(): Promise<void>;
  /** Whether the slice is over, for loops that would rather not await `pause()` every time. */
  due(): boolean;
}

export function timeSlicer(opts: { signal?: AbortSignal; onYield?: () => void } = {}): TimeSlicer {
  let start = performance.now();
  const due = () => performance.now() - start >= SLICE_MS;
  return {
    due,
    async pause() {
      if (!due()) return;
      opts.onYield?.();
      await new Promise((resolve) => setImmediate(resolve));
      opts.signal?.throwIfAborted();
      start = performance.now();
    },
  };
}
