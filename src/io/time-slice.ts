// Cooperative time slicing for synchronous file-system loops: fast sync system calls, with a
// yield to the event loop at most every `sliceMs` so servers and progress bars stay responsive.
export interface TimeSlicer {
  /** Resolves at once inside a slice; otherwise yields first (and then checks `signal`). */
  pause(): Promise<void>;
}

export function timeSlicer(opts: { sliceMs?: number; signal?: AbortSignal; onYield?: () => void } = {}): TimeSlicer {
  const sliceMs = opts.sliceMs ?? 20;
  let start = performance.now();
  return {
    async pause() {
      if (performance.now() - start < sliceMs) return;
      opts.onYield?.();
      await new Promise((resolve) => setImmediate(resolve));
      opts.signal?.throwIfAborted();
      start = performance.now();
    },
  };
}
