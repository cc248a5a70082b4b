// Reads a 0install selections document (`0install select --xml` output or an app's saved
// selections.xml) and lists the digests of every implementation that lives in a store, following
// 0install's own reader (Selections.get_source + Stores.get_digests; reference §5).
import { createRequire } from 'node:module';
import type * as Xmldom from '@xmldom/xmldom';
import { formatDigest, isAlgorithm, parseDigest, sameDigest, type Digest } from './digest.js';

type Element = Xmldom.Element;
// Loaded with require: xmldom is a CommonJS package, and require skips the export scan an ESM
// import of it makes (about 40% of its load time, which a cached `0share run` pays).
const { DOMParser } = createRequire(import.meta.url)('@xmldom/xmldom') as typeof Xmldom;

const INTERFACE_NS = 'http://zero-install.sourceforge.net/2004/injector/interface';

export interface SelectionDigests {
  interface: string;
  version?: string;
  /** The selection's id, as written in the document. */
  id: string;
  /** Every digest 0install would accept for this selection (any one present = cached). */
  digests: Digest[];
}

export class SelectionsError extends Error {
  override name = 'SelectionsError';
}

function parseXml(xml: string): Element {
  const parser = new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new SelectionsError(`not a well-formed selections document: ${message}`);
    },
  });
  let root: Element | null;
  try {
    root = parser.parseFromString(xml, 'text/xml').documentElement;
  } catch (err) {
    if (err instanceof SelectionsError) throw err;
    throw new SelectionsError(`not a well-formed selections document: ${(err as Error).message}`);
  }
  if (!root || root.namespaceURI !== INTERFACE_NS || root.localName !== 'selections') {
    throw new SelectionsError(
      `not a selections document: the root element must be <selections xmlns="${INTERFACE_NS}"> (as printed by \`0install select --xml URI\`)`,
    );
  }
  return root;
}

function childElements(parent: Element, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === n.ELEMENT_NODE) {
      const el = n as Element;
      if (el.namespaceURI === INTERFACE_NS && el.localName === localName) out.push(el);
    }
  }
  return out;
}

function digest(alg: string, value: string, id: string): Digest | undefined {
  if (!isAlgorithm(alg)) return undefined; // an algorithm this 0install version does not know
  try {
    return parseDigest(formatDigest({ alg, value }));
  } catch (err) {
    throw new SelectionsError(`selection '${id}' has an invalid ${alg} digest '${value}': ${(err as Error).message}`);
  }
}

/** The digests of one cached-type selection: the id (sha1=/sha1new=/sha256= only) ∪ every
 * non-namespaced attribute of every child <manifest-digest>. */
function selectionDigests(sel: Element, id: string): Digest[] {
  const found: Digest[] = [];
  const add = (d: Digest | undefined) => {
    if (d && !found.some((f) => sameDigest(f, d))) found.push(d);
  };
  const eq = id.indexOf('=');
  if (eq > 0) {
    const alg = id.slice(0, eq);
    if (alg === 'sha1' || alg === 'sha1new' || alg === 'sha256') add(digest(alg, id.slice(eq + 1), id));
  }
  let named = 0;
  for (const md of childElements(sel, 'manifest-digest')) {
    for (const attr of Array.from(md.attributes)) {
      if (attr.namespaceURI) continue;
      named++;
      add(digest(attr.localName ?? attr.name, attr.value, id));
    }
  }
  if (found.length === 0) {
    throw new SelectionsError(
      named > 0
        ? `selection '${id}' of ${sel.getAttribute('interface') ?? '?'} has no digest in an algorithm 0share knows (sha1, sha1new, sha256, sha256new)`
        : `No digests found for '${id}' (interface ${sel.getAttribute('interface') ?? '?'}): the selection has no <manifest-digest> and its id is not a digest`,
    );
  }
  return found;
}

/** Every selection that 0install would look for in a store, with all its digests. Local paths,
 * distribution packages and selections that still require compilation are left out. Throws
 * SelectionsError for a document that is not a selections document or a selection without digest. */
export function selectionsDigests(xml: string): SelectionDigests[] {
  const root = parseXml(xml);
  const out: SelectionDigests[] = [];
  for (const sel of childElements(root, 'selection')) {
    const id = sel.getAttribute('id');
    const iface = sel.getAttribute('interface');
    if (id === null || iface === null) {
      throw new SelectionsError(`a <selection> without ${id === null ? 'an id' : 'an interface'} attribute (interface ${iface ?? '?'}, id ${id ?? '?'})`);
    }
    if (sel.hasAttribute('local-path') || id.startsWith('/') || id.startsWith('package:')) continue;
    if (sel.getAttribute('requires-compilation') === 'true') continue;
    const version = sel.getAttribute('version');
    out.push({ interface: iface, ...(version !== null ? { version } : {}), id, digests: selectionDigests(sel, id) });
  }
  return out;
}
