// Model-based test of the server session: xstate/graph generates the shortest path to every
// (bucketed) state for several kinds of request, and each path is replayed against a real actor
// whose ports are fakes scripted from that path, with a SimulatedClock for the stall timer.
import { createActor, SimulatedClock, type Snapshot } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import {
  type BodyEvents,
  type BodyRequest,
  type PageRequest,
  type ServerSessionInput,
  type ServerSessionPorts,
  serverSessionMachine,
} from '../../src/machines/server-session.machine.js';
import { methodsOf, parseRequestTarget } from '../../src/core/http-route.js';

const STALL = 30_000;
const DIGEST = `sha1new=${'ab'.repeat(20)}`;
const FOUND = { dir: '/store/x', size: 123 };
const AFTER_STALL = 'xstate.after.stall.serverSession.uploading.streaming.flowing';

type AnyEvent = { type: string; output?: unknown; error?: unknown; bytes?: number; reason?: string; why?: string };

const EVENTS: AnyEvent[] = [
  { type: 'xstate.done.actor.access', output: true },
  { type: 'xstate.done.actor.access', output: false },
  { type: 'xstate.error.actor.access', error: new Error('allow list broken') },
  { type: 'xstate.done.actor.resolve', output: FOUND },
  { type: 'xstate.done.actor.resolve', output: undefined },
  { type: 'xstate.error.actor.resolve', error: new Error('EACCES: permission denied') },
  { type: 'xstate.done.actor.page', output: { status: 200, bytes: 1234 } },
  { type: 'xstate.done.actor.page', output: { status: 413, bytes: 0, reason: 'too large' } },
  { type: 'xstate.error.actor.page', error: new Error('ENOENT: store vanished') },
  { type: 'GRANTED' },
  { type: 'BUSY', why: 'full' },
  { type: 'BUSY', why: 'share' },
  { type: 'PROGRESS', bytes: 10 },
  { type: 'FINISHED', bytes: 20 },
  { type: 'FAILED', reason: 'read error' },
  { type: 'CLIENT_CLOSED' },
  { type: AFTER_STALL },
];

const REQUESTS: Array<[string, Pick<ServerSessionInput, 'method' | 'target' | 'wantsPlainTar'> & { peer?: string }]> = [
  ['GET tree', { method: 'GET', target: `/implementation/${DIGEST}`, wantsPlainTar: false }],
  ['GET plain tar', { method: 'GET', target: `/implementation/${DIGEST}?format=tar`, wantsPlainTar: false }],
  ['HEAD tree', { method: 'HEAD', target: `/implementation/${DIGEST}`, wantsPlainTar: true }],
  ['GET manifest', { method: 'GET', target: `/implementation/${DIGEST}/manifest`, wantsPlainTar: false }],
  ['POST', { method: 'POST', target: `/implementation/${DIGEST}`, wantsPlainTar: false }],
  ['GET other path', { method: 'GET', target: '/etc/passwd', wantsPlainTar: false }],
  ['GET traversal', { method: 'GET', target: '/implementation/..%2F..%2Fetc', wantsPlainTar: false }],
  ['GET status page', { method: 'GET', target: '/', wantsPlainTar: false }],
  ['HEAD stats', { method: 'HEAD', target: '/stats', wantsPlainTar: false }],
  ['POST status page', { method: 'POST', target: '/', wantsPlainTar: false }],
  ['POST local report from loopback', { method: 'POST', target: '/local/fetches', wantsPlainTar: false, peer: '127.0.0.1' }],
  ['GET local record from ::1', { method: 'GET', target: `/local/fetches/${DIGEST}`, wantsPlainTar: false, peer: '::1' }],
  ['POST local report from the LAN', { method: 'POST', target: '/local/fetches', wantsPlainTar: false, peer: '10.0.0.2' }],
  ['GET local report (wrong method)', { method: 'GET', target: '/local/fetches', wantsPlainTar: false, peer: '::ffff:127.0.0.1' }],
];

/** Fake I/O scripted from one path: what the access check, store and slot answer. */
function fakes(path: AnyEvent[]) {
  const accessEv = path.find((e) => e.type.endsWith('.actor.access'));
  const slotEv = path.find((e) => e.type === 'GRANTED' || e.type === 'BUSY');
  // The store lookup's or the page's pending promise (a session has at most one of them).
  let resolveNow: ((v: unknown) => void) | undefined;
  let rejectNow: ((e: unknown) => void) | undefined;
  const pending = <T,>() =>
    new Promise<T>((res, rej) => {
      resolveNow = res as (v: unknown) => void;
      rejectNow = rej;
    });
  const world = {
    acquired: 0,
    released: 0,
    body: undefined as undefined | { req: BodyRequest; events: BodyEvents },
    page: undefined as undefined | PageRequest,
    slotFor: undefined as undefined | string,
  };
  const ports: ServerSessionPorts = {
    isAllowed: () => {
      if (accessEv?.type.startsWith('xstate.error')) throw accessEv.error;
      return accessEv?.output === true;
    },
    resolve: () => pending(),
    acquireUpload: (peer) => {
      world.slotFor = peer;
      if (slotEv?.type !== 'GRANTED') return (slotEv as { why: 'full' | 'share' }).why;
      world.acquired++;
      return () => void world.released++;
    },
    sendBody: (req, events) => {
      world.body = { req, events };
    },
    sendPage: (req) => {
      world.page = req;
      return pending();
    },
  };
  const settle = (e: AnyEvent) => (e.type.startsWith('xstate.error') ? rejectNow!(e.error) : resolveNow!(e.output));
  return { ports, world, settle };
}

const tick = () => new Promise((r) => setImmediate(r));

function serialize(s: Snapshot<unknown> & { value?: unknown; context?: { outcome: string; status: number; reason?: string; bytes: number } }) {
  const c = s.context!;
  return JSON.stringify([s.value, s.status, c.status, c.reason, c.bytes > 0]);
}

for (const [name, req] of REQUESTS) {
  describe(`server session: ${name}`, () => {
    const fake = fakes([]);
    const input: ServerSessionInput = { ...req, peer: req.peer ?? '10.0.0.2', stallTimeout: STALL, ports: fake.ports };
    const slotFree = req.target.endsWith('/manifest');
    const paths = getShortestPaths(serverSessionMachine, {
      input,
      events: EVENTS as never,
      serializeState: serialize as never,
      // Only events the state can take: a finished invoke sends nothing more, a final state takes
      // nothing; the access check is synchronous, so no socket event can arrive during it.
      filterEvents: (s, e) => s.status === 'active' && s.can(e as never) && !(e.type === 'CLIENT_CLOSED' && s.matches('checkingAccess')),
    })
      // The fakes answer the access check and the upload slot at once, so the session never rests there.
      .filter((p) => !['checkingAccess', JSON.stringify({ uploading: 'admitting' })].includes(typeof p.state.value === 'string' ? p.state.value : JSON.stringify(p.state.value)))
      // The manifest takes no upload slot, so nothing can answer it BUSY.
      .filter((p) => !(slotFree && p.steps.some((s) => (s.event as AnyEvent).type === 'BUSY')));

    it('has paths to check', () => {
      expect(paths.length).toBeGreaterThan(1);
    });

    for (const path of paths) {
      const events = path.steps.slice(1).map((s) => s.event as AnyEvent);
      const title = events.map((e) => e.type.replace('xstate.', '') + ('output' in e ? `(${e.output === undefined ? 'none' : JSON.stringify(e.output)})` : 'why' in e ? `(${String(e.why)})` : '')).join(' → ');
      it(`${title || 'start'} ⇒ ${JSON.stringify(path.state.value)}`, async () => {
        const f = fakes(events);
        const clock = new SimulatedClock();
        const actor = createActor(serverSessionMachine, { input: { ...input, ports: f.ports }, clock });
        actor.subscribe({ error: () => {} });
        actor.start();
        await tick();
        let bodyBytes = 0;
        // Steps the fakes take by themselves (on entering the state): no state to compare before them.
        const auto = (e?: AnyEvent) => e !== undefined && (e.type.endsWith('.actor.access') || e.type === 'GRANTED' || e.type === 'BUSY');
        if (!auto(events[0])) expect(actor.getSnapshot().value).toEqual(path.steps[0]!.state.value);
        for (const [i, e] of events.entries()) {
          if (auto(e)) {
            // scripted in the fakes
          } else if (e.type.endsWith('.actor.resolve') || e.type.endsWith('.actor.page')) f.settle(e);
          else if (e.type === 'PROGRESS') f.world.body!.events.progress((bodyBytes += e.bytes!));
          else if (e.type === 'FINISHED') f.world.body!.events.finished(bodyBytes + e.bytes!);
          else if (e.type === 'FAILED') f.world.body!.events.failed(e.reason!);
          else if (e.type === AFTER_STALL) {
            clock.increment(STALL - 1);
            expect(actor.getSnapshot().value).toEqual(path.steps[i]!.state.value);
            clock.increment(1);
          } else if (e.type === 'CLIENT_CLOSED') actor.send({ type: 'CLIENT_CLOSED' });
          else throw new Error(`no replay for ${e.type}`);
          await tick();
          if (!auto(events[i + 1])) expect(actor.getSnapshot().value, `after ${e.type}`).toEqual(path.steps[i + 1]!.state.value);
        }

        const snap = actor.getSnapshot();
        // Slots are always given back once the session ends or leaves the upload.
        if (snap.status === 'done' || !snap.matches('uploading')) expect(f.world.released).toBe(f.world.acquired);
        if (f.world.body) {
          expect(f.world.body.req.found).toEqual(FOUND);
          expect(f.world.body.req.head).toBe(req.method === 'HEAD');
          expect(f.world.body.req.plainTar).toBe(req.wantsPlainTar || req.target.endsWith('?format=tar'));
          expect(f.world.body.req.kind).toBe(req.target.endsWith('/manifest') ? 'manifest' : 'tree');
          // Leaving the streaming state aborts the sender (stop reading the store, drop the socket).
          expect(f.world.body.req.signal.aborted).toBe(!snap.matches({ uploading: 'streaming' }));
        }
        const isPage = req.target === '/' || req.target === '/stats' || req.target.startsWith('/local/fetches');
        const local = req.target.startsWith('/local/');
        const loopback = input.peer === '127.0.0.1' || input.peer === '::1' || input.peer === '::ffff:127.0.0.1';
        const pageDone = events.find((e) => e.type === 'xstate.done.actor.page')?.output as { status: number; bytes: number; reason?: string } | undefined;
        if (f.world.page) {
          expect(isPage).toBe(true);
          expect(f.world.page).toEqual({ route: parseRequestTarget(req.target), head: req.method === 'HEAD' });
          // The local routes are answered only to this machine, and only by their own method.
          if (local) expect(loopback).toBe(true);
          expect(methodsOf(parseRequestTarget(req.target))).toContain(req.method);
        }
        // The manifest is served without an upload slot.
        if (slotFree) expect(f.world.acquired).toBe(0);
        // A page never takes an upload slot, nor reads the stores for an implementation.
        if (isPage) expect([f.world.acquired, f.world.body]).toEqual([0, undefined]);
        // The slot is asked for the connection's source, which the fair share is counted by.
        if (f.world.slotFor !== undefined) expect(f.world.slotFor).toBe(input.peer);
        if (snap.status !== 'done') return;
        const out = snap.output!;
        expect(out.outcome).toBe(snap.value);
        // The adapter reads the route from the output (Allow, the text of a refusal, the recent list).
        expect(out.route).toEqual(parseRequestTarget(req.target));
        if (out.outcome === 'done') expect(out).toMatchObject(isPage ? { status: pageDone!.status, bytes: pageDone!.bytes } : { status: 200, bytes: bodyBytes + 20 });
        if (out.outcome === 'rejected') {
          const expected =
            events.some((e) => e.type === 'xstate.done.actor.access' && e.output === false) && !(local && loopback) ? 403
            : events.some((e) => e.type.startsWith('xstate.error')) ? 500
            : local && !loopback ? 403
            : !methodsOf(parseRequestTarget(req.target)).includes(req.method) ? 405
            : pageDone ? pageDone.status
            : req.target === '/etc/passwd' ? 404
            : req.target.includes('%2F') ? 400
            : events.some((e) => e.type === 'BUSY') ? 503
            : 404;
          expect(out.status).toBe(expected);
          const busy = events.find((e) => e.type === 'BUSY') as { why?: string } | undefined;
          if (busy) expect(out.reason).toBe(busy.why === 'share' ? 'fair share: this source holds its share of uploads while others wait' : 'too many uploads');
          expect(out.bytes).toBe(0);
        }
        if (out.outcome === 'aborted') {
          expect(out.status).toBe(f.world.body ? 200 : 499);
          expect(out.bytes).toBe(bodyBytes);
          expect(out.reason).toMatch(isPage ? /client|page failed: ENOENT/ : /client|read error/);
        }
      });
    }
  });
}
