// The client machines and their types, for embedding (`0share/machines`).
export * from './types.js';
export { LocalFailure } from './ports.js';
export * from './transfer.machine.js';
export * from './query.machine.js';
