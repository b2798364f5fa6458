/** The tar header fields duplicity uses (FORMAT.md §2.1), shared by the reader and the writer. */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'hardlink' | 'other';

export interface TarHeader {
  /** raw name bytes, as stored (directories keep their trailing `/`) */
  name: Buffer;
  type: TarEntryType;
  /** permission bits & 07777 */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** integer epoch seconds */
  mtime: number;
  /** payload length; when reading, the bytes that follow (0 for types that carry no data) */
  size: number;
  /** symlink / hardlink target, raw bytes */
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}

export const BLOCK = 512;
/** tar's record size: Python's tarfile pads a closed archive to a multiple of it */
export const RECORD = 10240;

export const TYPEFLAG: Record<Exclude<TarEntryType, 'other'>, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  chardev: '3',
  blockdev: '4',
  directory: '5',
  fifo: '6',
};

/** Zero bytes that pad a payload of `size` bytes to a whole block. */
export function tarPadding(size: number): Buffer {
  const rem = size % BLOCK;
  return Buffer.alloc(rem === 0 ? 0 : BLOCK - rem);
}

/**
 * The end of a tar as Python's tarfile closes it (sigtars, §2.3, §5.1): two zero blocks, then zeros up
 * to a multiple of 10240 bytes. `offset` is the number of bytes written before, a multiple of 512.
 */
export function tarEndBlocks(offset: number): Buffer {
  const end = offset + 2 * BLOCK;
  const rem = end % RECORD;
  return Buffer.alloc(2 * BLOCK + (rem === 0 ? 0 : RECORD - rem));
}
