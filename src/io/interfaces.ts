// The machine's network interfaces as discovery sees them: os.networkInterfaces() filtered by
// src/core/interfaces.ts (up, not loopback, not virtual, not in --skip-iface), and a poll that
// reports when that set changes, so a running peer picks up a laptop joining Wi-Fi.
import { networkInterfaces } from 'node:os';
import { type DiscoveryInterface, DEFAULT_SKIP_IFACES, discoveryInterfaces, interfacesSignature } from '../core/interfaces.js';

/** How often the running peer looks at the interfaces again. */
export const INTERFACE_POLL_MS = 3_000;

/** The interfaces discovery uses now; `skip` adds patterns to DEFAULT_SKIP_IFACES. */
export function readInterfaces(skip: readonly string[] = []): DiscoveryInterface[] {
  return discoveryInterfaces(networkInterfaces() as Parameters<typeof discoveryInterfaces>[0], [...DEFAULT_SKIP_IFACES, ...skip]);
}

export interface InterfaceWatch {
  /** The interfaces as last seen. */
  current(): readonly DiscoveryInterface[];
  stop(): void;
}

/**
 * Calls `onChange(now)` whenever the set of usable interfaces or their addresses changes
 * (checked every `intervalMs`). The timer does not keep the process alive.
 */
export function watchInterfaces(skip: readonly string[], onChange: (now: readonly DiscoveryInterface[]) => void, intervalMs = INTERFACE_POLL_MS): InterfaceWatch {
  let now = readInterfaces(skip);
  let sig = interfacesSignature(now);
  const timer = setInterval(() => {
    const next = readInterfaces(skip);
    const nextSig = interfacesSignature(next);
    if (nextSig === sig) return;
    now = next;
    sig = nextSig;
    onChange(now);
  }, intervalMs);
  timer.unref();
  return { current: () => now, stop: () => clearInterval(timer) };
}
