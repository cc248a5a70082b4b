// Turns 0share's own feed for a checkout (0share.xml, whose implementation is the checkout as a
// `local-path`) into the release feed: the same interface and commands, with the local-path
// implementation replaced by the packed archive, named by its digest (used by scripts/release.mjs).
import { type Document, DOMParser, type Element, XMLSerializer } from '@xmldom/xmldom';
import { type Digest, formatDigest } from './digest.js';

const INTERFACE_NS = 'http://zero-install.sourceforge.net/2004/injector/interface';

export interface ReleaseArchive {
  version: string;
  digest: Digest;
  /** Where 0install downloads the archive from; relative to the feed's directory for a local feed. */
  href: string;
  size: number;
  /** The archive's top-level directory that holds the implementation (`package` for `npm pack`). */
  extract?: string;
  /** The release date, YYYY-MM-DD. */
  released: string;
  type?: string;
}

export class ReleaseFeedError extends Error {
  override name = 'ReleaseFeedError';
}

function parse(xml: string): { doc: Document; root: Element } {
  const parser = new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new ReleaseFeedError(`the feed is not well-formed XML: ${message}`);
    },
  });
  const doc = parser.parseFromString(xml, 'text/xml');
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== INTERFACE_NS || root.localName !== 'interface') {
    throw new ReleaseFeedError(`the feed's root element must be <interface xmlns="${INTERFACE_NS}">`);
  }
  return { doc, root };
}

/** The release feed: `devFeed` with its one `local-path` implementation replaced by `archive`. */
export function releaseFeed(devFeed: string, archive: ReleaseArchive): string {
  const { doc, root } = parse(devFeed);
  const local = Array.from(root.getElementsByTagNameNS(INTERFACE_NS, 'implementation')).filter((el) => el.hasAttribute('local-path'));
  if (local.length !== 1) throw new ReleaseFeedError(`the feed must have exactly one local-path <implementation> (it has ${local.length})`);
  const old = local[0]!;
  const before = old.previousSibling;
  const indent = before?.nodeType === before?.TEXT_NODE ? (/\n([ \t]*)$/.exec(before?.nodeValue ?? '')?.[1] ?? '') : '';

  const el = (name: string, attrs: Record<string, string>): Element => {
    const e = doc.createElementNS(INTERFACE_NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  const id = formatDigest(archive.digest);
  const impl = el('implementation', { id, version: archive.version, released: archive.released });
  const archiveAttrs: Record<string, string> = { href: archive.href, size: String(archive.size) };
  if (archive.extract !== undefined) archiveAttrs.extract = archive.extract;
  archiveAttrs.type = archive.type ?? 'application/x-compressed-tar';
  for (const child of [el('manifest-digest', { [archive.digest.alg]: archive.digest.value }), el('archive', archiveAttrs)]) {
    impl.appendChild(doc.createTextNode(`\n${indent}  `));
    impl.appendChild(child);
  }
  impl.appendChild(doc.createTextNode(`\n${indent}`));
  old.parentNode!.replaceChild(impl, old);
  // The checkout feed's header comment speaks of the checkout; the release feed gets its own.
  const header = `<?xml version="1.0" encoding="utf-8"?>\n<!-- 0share ${archive.version}: the release feed, made by \`npm run release\` from 0share.xml. -->\n`;
  return `${header}${new XMLSerializer().serializeToString(root)}\n`;
}
