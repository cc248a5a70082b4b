// Types of feed.mjs.
export function feedXml(opts: {
  name: string;
  summary: string;
  /** `sha256new_…`, as `0install store manifest` prints it. */
  digest: string;
  archive: string;
  size?: number;
  /** The `run` command's path (default `prog`), when `commands` is not given. */
  path?: string;
  /** The `<command>` elements, verbatim. */
  commands?: string;
}): string;
