/** The collector's inputs (issue #6): files and globs (plain or CRI), standard input. */
export * from './input.js';
export { CriAssembler, type CriLine, type CriRecord, parseCriLine } from './cri.js';
export { type Line, LineSplitter } from './lines.js';
export { FileInput, type FileInputOptions, fileIdOf } from './file-input.js';
export { STDIN_FILE_ID, StdinInput, type StdinInputOptions } from './stdin-input.js';
