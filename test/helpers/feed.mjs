// A local 0install feed of one implementation whose archive can never be downloaded, for the
// `0share run|download` tests and bench (plain JS so the bench can use it too; types in feed.d.mts).

/**
 * The feed XML: implementation `NAME-1.0` with the sha256new `digest`, its `<command>` elements
 * (default: `run` → `path`), and an archive at `archive` (a URL where nothing answers).
 */
export function feedXml({ name, summary, digest, archive, size = 100, path = 'prog', commands = `<command name="run" path="${path}"/>` }) {
  return `<?xml version="1.0" ?>
<interface xmlns="http://zero-install.sourceforge.net/2004/injector/interface">
  <name>${name}</name>
  <summary>${summary}</summary>
  <implementation id="${name}-1.0" version="1.0">
    <manifest-digest sha256new="${digest.slice('sha256new_'.length)}"/>
    ${commands}
    <archive href="${archive}" size="${size}"/>
  </implementation>
</interface>
`;
}
