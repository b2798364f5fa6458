/** AEAD Encrypted Data packets (tag 20, written by gpg 2.4 with OCB); placeholder until the reader lands. */
import type { ByteReader } from './byte-reader.js';
import type { SessionKey } from './session-key.js';

export async function* decryptAead(_body: ByteReader, _keys: SessionKey[]): AsyncGenerator<Uint8Array> {
  throw new Error('AEAD-encrypted messages (gpg 2.4 OCB) are not supported yet');
}
