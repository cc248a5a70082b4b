// Reads a 0install selections document (`0install select --xml` output or an app's saved
// selections.xml) and lists the digests of every implementation that lives in a store, following
// 0install's own reader (Selections.get_source + Stores.get_digests; reference §5).
import { createRequire } from 'node:module';
import type * as Saxes from 'saxes';
import { formatDigest, isAlgorithm, parseDigest, sameDigest, type Digest } from './digest.js';

// saxes, a small strict SAX parser with namespaces: a cached `0share run` parses one document and
// pays its load time (a few ms, where a DOM parser took about 40). Loaded with require: it is a
// CommonJS package, and require skips the export scan an ESM import makes.
const { SaxesParser } = createRequire(import.meta.url)('saxes') as typeof Saxes;

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

/** A <selection> child of the root: its attributes by qualified name, and the non-namespaced attributes of its <manifest-digest> children. */
interface SelectionElement {
  readonly attributes: ReadonlyMap<string, string>;
  readonly digestAttributes: { alg: string; value: string }[];
}

/** The root's <selection> children, read in one pass; throws SelectionsError for a document that is not a selections document. */
function readSelections(xml: string): SelectionElement[] {
  const parser = new SaxesParser({ xmlns: true });
  const out: SelectionElement[] = [];
  let depth = 0;
  let root: { uri: string; local: string } | undefined;
  let current: SelectionElement | undefined;
  parser.on('error', (err) => {
    throw new SelectionsError(`not a well-formed selections document: ${err.message}`);
  });
  parser.on('opentag', (tag) => {
    depth++;
    if (depth === 1) root = { uri: tag.uri, local: tag.local };
    else if (depth === 2 && tag.uri === INTERFACE_NS && tag.local === 'selection') {
      current = { attributes: new Map(Object.values(tag.attributes).map((a) => [a.name, a.value])), digestAttributes: [] };
      out.push(current);
    } else if (depth === 3 && current && tag.uri === INTERFACE_NS && tag.local === 'manifest-digest') {
      for (const a of Object.values(tag.attributes)) if (!a.uri) current.digestAttributes.push({ alg: a.local, value: a.value });
    }
  });
  parser.on('closetag', () => {
    if (depth === 2) current = undefined;
    depth--;
  });
  try {
    parser.write(xml).close();
  } catch (err) {
    if (err instanceof SelectionsError) throw err;
    throw new SelectionsError(`not a well-formed selections document: ${(err as Error).message}`);
  }
  if (root?.uri !== INTERFACE_NS || root.local !== 'selections') {
    throw new SelectionsError(
      `not a selections document: the root element must be <selections xmlns="${INTERFACE_NS}"> (as printed by \`0install select --xml URI\`)`,
    );
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
function selectionDigests(sel: SelectionElement, id: string): Digest[] {
  const found: Digest[] = [];
  const add = (d: Digest | undefined) => {
    if (d && !found.some((f) => sameDigest(f, d))) found.push(d);
  };
  const eq = id.indexOf('=');
  if (eq > 0) {
    const alg = id.slice(0, eq);
    if (alg === 'sha1' || alg === 'sha1new' || alg === 'sha256') add(digest(alg, id.slice(eq + 1), id));
  }
  for (const { alg, value } of sel.digestAttributes) add(digest(alg, value, id));
  if (found.length === 0) {
    const iface = sel.attributes.get('interface') ?? '?';
    throw new SelectionsError(
      sel.digestAttributes.length > 0
        ? `selection '${id}' of ${iface} has no digest in an algorithm 0share knows (sha1, sha1new, sha256, sha256new)`
        : `No digests found for '${id}' (interface ${iface}): the selection has no <manifest-digest> and its id is not a digest`,
    );
  }
  return found;
}

/** Every selection that 0install would look for in a store, with all its digests. Local paths,
 * distribution packages and selections that still require compilation are left out. Throws
 * SelectionsError for a document that is not a selections document or a selection without digest. */
export function selectionsDigests(xml: string): SelectionDigests[] {
  const out: SelectionDigests[] = [];
  for (const sel of readSelections(xml)) {
    const id = sel.attributes.get('id');
    const iface = sel.attributes.get('interface');
    if (id === undefined || iface === undefined) {
      throw new SelectionsError(`a <selection> without ${id === undefined ? 'an id' : 'an interface'} attribute (interface ${iface ?? '?'}, id ${id ?? '?'})`);
    }
    if (sel.attributes.has('local-path') || id.startsWith('/') || id.startsWith('package:')) continue;
    if (sel.attributes.get('requires-compilation') === 'true') continue;
    const version = sel.attributes.get('version');
    out.push({ interface: iface, ...(version !== undefined ? { version } : {}), id, digests: selectionDigests(sel, id) });
  }
  return out;
}
