// The machines and their types, for embedding (`0share/machines`): the client's transfer and
// query machines, the swarm scheduler, the peers machine (`0share peers`) and the peer's
// per-request server session.
export * from './types.js';
export { LocalFailure } from './ports.js';
export * from './transfer.machine.js';
export * from './swarm.machine.js';
export * from './query.machine.js';
export * from './peers.machine.js';
export * from './server-session.machine.js';
