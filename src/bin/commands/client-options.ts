// Option parsers shared by the client commands (fetch, query).
import { UserError } from '../cli-errors.js';

/** A repeatable option: every value, in order (undefined when never given). */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function wholeNumber(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new UserError(`${name} must be a whole number from ${min} to ${max}, not '${value}'`);
    return n;
  };
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** `123`, `64K`, `2G`, `1.5GiB` → bytes. */
export function parseByteSize(name: string) {
  return (value: string): number => {
    const m = /^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
    const n = m ? Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`${name} must be a size such as 500M or 2G, not '${value}'`);
    return n;
  };
}
