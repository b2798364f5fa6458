/**
 * @duplicity-ts/archive: duplicity 0.8.22's on-disk objects, as pure encoders and decoders.
 *
 * - entry-index: the `Index` (raw path components) and its §4.4 order, which every stream follows.
 * - time-string, file-name: backend file names (§1) and the time strings in them and on the command line (§14.4).
 * - manifest: the per-set manifest text (§6) and which volumes a restore needs (§11.4).
 * - tar-reader, tar-header, tar-header-type: the tar dialect (§2): a streaming reader for ustar/pax/GNU, a header writer
 *   byte-identical to Python's tarfile (which duplicity uses), and the padding and end blocks around them.
 * - entry-name: the `snapshot/`, `diff/`, `multivol_*`, `signature/`... names inside difftars and sigtars (§3-5).
 *
 * Nothing here touches the file system or the network: the engine feeds bytes in and takes bytes out.
 */
export { ArchiveFormatError } from './errors.js';
export { type Index, compareIndex, indexToPath, pathToIndex } from './entry-index.js';
export { formatTimeString, formatOldTimeString, parseTimeString, parseTimeArg } from './time-string.js';
export { type ParsedName, type NamePrefixes, type NameToFormat, parseFileName, formatFileName } from './file-name.js';
export {
  type ManifestVolume,
  type FilelistEntry,
  type FilelistChange,
  Manifest,
  quoteManifestPath,
  unquoteManifestPath,
  volumeMayContain,
} from './manifest.js';
export { type TarHeader, type TarEntryType, tarPadding, tarEndBlocks } from './tar-header-type.js';
export { type TarEntry, type TarEntrySync, readTar, readTarSync } from './tar-reader.js';
export { type EntryKind, type EntryStream, type EntryName, parseEntryName, formatEntryName } from './entry-name.js';
export { encodeTarEntry, encodeTarEntryInto } from './tar-header.js';
