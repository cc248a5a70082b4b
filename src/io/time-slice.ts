// Cooperative time slicing for synchronous file-system loops: fast sync system calls, with a
// yield to the event loop at most every SLICE_MS so servers and progress bars stay responsive.
const SLICE_MS = 20;

export interface TimeSlicer {
  /** Resolves at once inside a slice; otherwise yields first (and then checks `signal`). */
  pause(): Promise<void>;
  /** Whether the slice is over (pause would yield): a loop can skip the await of pause() until then. */
  due(): boolean;
}

export function timeSlicer(opts: { signal?: AbortSignal; onYield?: () => void } = {}): TimeSlicer {
  let start = performance.now();
  return {
    due: () => performance.now() - start >= SLICE_MS,
    async pause() {
      if (performance.now() - start < SLICE_MS) return;
      opts.onYield?.();
      await new Promise((resolve) => setImmediate(resolve));
      opts.signal?.throwIfAborted();
      start = performance.now();
    },
  };
}
