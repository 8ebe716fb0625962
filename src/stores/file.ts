// The `tiercache/stores/file` entry point. The store lives under ./file/: the on-disk layout and per-file
// lock (layout.ts), the entry file format (record.ts) and the store itself (store.ts).
export type { FileIoEvent, FileIoOperation, FileStoreOptions } from './file/options.js';
export { fileStore, type FileStore } from './file/store.js';
