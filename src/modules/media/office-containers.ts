/**
 * Tells Office documents apart from other archives by reading their
 * directories, without decompressing or parsing any XML.
 *
 * ZIP (DOCX / XLSX): the end-of-central-directory record must end the file
 * (no trailing bytes; a comment is allowed), the central directory must sit
 * right before it and hold every entry it announces, and the local headers of
 * the first entries must match it. The entries must include
 * `[Content_Types].xml` and `word/…` (DOCX) or `xl/…` (XLSX), not both, and no
 * `vbaProject.bin` (macros). Zip bombs are refused from the directory alone,
 * without inflating anything: more than MAX_ZIP_ENTRIES entries, more than
 * MAX_UNCOMPRESSED_BYTES in all, or (past UNCOMPRESSED_RATIO_FLOOR) more than
 * MAX_COMPRESSION_RATIO times the file's size. Limits: ZIP64, split and
 * encrypted archives are refused; the directory's sizes are believed (a reader
 * that inflates past them is lied to, but this server never inflates); entry contents and `[Content_Types].xml` are not read, so a ZIP
 * that merely carries these names passes; it is still stored and served as a
 * download (`Content-Disposition: attachment`, `nosniff`).
 *
 * OLE2 compound files (DOC / XLS): the header, FAT and directory chain are
 * followed (with loop and bounds checks) to list the directory entries. A
 * `WordDocument` stream makes a DOC, a `Workbook` or `Book` stream an XLS;
 * other compound files (MSI installers, PowerPoint, Outlook messages,
 * encrypted OOXML) and documents with VBA storages (`Macros`,
 * `_VBA_PROJECT_CUR`) are refused. Stream contents are not read.
 */
import type { RefusalReason } from './file-sniffer.ts';

/** Reads `length` bytes at `position` (fewer only at the end of the file). */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

export type ContainerVerdict = { ext: 'docx' | 'xlsx' | 'doc' | 'xls' } | { refused: RefusalReason };

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const MAX_CENTRAL_DIRECTORY = 8 * 1024 * 1024;
const LOCAL_HEADERS_CHECKED = 16;

/**
 * What no real document needs. A large Word or Excel file holds a few
 * hundred parts and its XML compresses about 10:1; a zip bomb claims
 * gigabytes, or hundreds of times its own size, or tens of thousands of parts.
 */
export const MAX_ZIP_ENTRIES = 10_000;
export const MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024;
export const MAX_COMPRESSION_RATIO = 200;
/** Below this in all, any ratio is harmless (a tiny file of repeated cells). */
export const UNCOMPRESSED_RATIO_FLOOR = 64 * 1024 * 1024;

const corrupt = { refused: 'corrupt' } as const;
const bomb = { refused: 'bomb' } as const;

export async function inspectZip(readAt: ReadAt, size: number): Promise<ContainerVerdict> {
  if (size < EOCD_SIZE + 30) return corrupt;
  const tailStart = Math.max(0, size - EOCD_SIZE - MAX_COMMENT);
  const tail = await readAt(tailStart, size - tailStart);
  let eocd = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE && i + EOCD_SIZE + tail.readUInt16LE(i + 20) === tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return corrupt;
  const diskNumber = tail.readUInt16LE(eocd + 4);
  const centralDisk = tail.readUInt16LE(eocd + 6);
  const entriesOnDisk = tail.readUInt16LE(eocd + 8);
  const entries = tail.readUInt16LE(eocd + 10);
  const centralSize = tail.readUInt32LE(eocd + 12);
  const centralOffset = tail.readUInt32LE(eocd + 16);
  // ZIP64 marks its real values with 0xFFFF / 0xFFFFFFFF here; split archives have disk numbers.
  if (diskNumber !== 0 || centralDisk !== 0 || entriesOnDisk !== entries) return corrupt;
  if (entries === 0xffff || centralSize === 0xffffffff || centralOffset === 0xffffffff) return corrupt;
  const eocdPosition = tailStart + eocd;
  if (entries === 0 || centralSize > MAX_CENTRAL_DIRECTORY || centralOffset + centralSize !== eocdPosition) {
    return corrupt;
  }
  if (entries > MAX_ZIP_ENTRIES) return bomb;

  const central = await readAt(centralOffset, centralSize);
  if (central.length !== centralSize) return corrupt;
  const names: string[] = [];
  const localChecks: { offset: number; name: Buffer }[] = [];
  let at = 0;
  let uncompressedTotal = 0;
  for (let i = 0; i < entries; i++) {
    if (at + 46 > central.length || central.readUInt32LE(at) !== CENTRAL_SIGNATURE) return corrupt;
    const flags = central.readUInt16LE(at + 8);
    const uncompressedSize = central.readUInt32LE(at + 24);
    if (uncompressedSize === 0xffffffff) return corrupt; // ZIP64
    uncompressedTotal += uncompressedSize;
    const nameLength = central.readUInt16LE(at + 28);
    const extraLength = central.readUInt16LE(at + 30);
    const commentLength = central.readUInt16LE(at + 32);
    const localOffset = central.readUInt32LE(at + 42);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > central.length || localOffset >= centralOffset) return corrupt;
    if (flags & 0x1) return corrupt; // encrypted entry
    const name = central.subarray(at + 46, at + 46 + nameLength);
    names.push(name.toString('utf8'));
    if (localChecks.length < LOCAL_HEADERS_CHECKED) localChecks.push({ offset: localOffset, name });
    at = end;
  }
  if (at !== central.length) return corrupt;
  if (
    uncompressedTotal > MAX_UNCOMPRESSED_BYTES ||
    (uncompressedTotal > UNCOMPRESSED_RATIO_FLOOR && uncompressedTotal > size * MAX_COMPRESSION_RATIO)
  ) {
    return bomb;
  }
  if (localChecks[0]?.offset !== 0) return corrupt;
  for (const { offset, name } of localChecks) {
    const header = await readAt(offset, 30 + name.length);
    if (header.length !== 30 + name.length || header.readUInt32LE(0) !== LOCAL_SIGNATURE) return corrupt;
    if (header.readUInt16LE(26) !== name.length || !header.subarray(30).equals(name)) return corrupt;
  }

  if (!names.includes('[Content_Types].xml')) return { refused: 'unsupported' };
  if (names.some((name) => name.toLowerCase().endsWith('vbaproject.bin'))) return { refused: 'macros' };
  const word = names.some((name) => name.startsWith('word/'));
  const excel = names.some((name) => name.startsWith('xl/'));
  if (word === excel) return { refused: 'unsupported' };
  return { ext: word ? 'docx' : 'xlsx' };
}

const FREE_OR_END = 0xfffffffa; // sector numbers at or above this are markers, not sectors
const END_OF_CHAIN = 0xfffffffe;
const HEADER_DIFAT_ENTRIES = 109;
const MAX_DIRECTORY_SECTORS = 4096;
const DIRECTORY_ENTRY_SIZE = 128;

export async function inspectOle2(readAt: ReadAt, size: number): Promise<ContainerVerdict> {
  const header = await readAt(0, 512);
  if (header.length < 512) return corrupt;
  const major = header.readUInt16LE(0x1a);
  const sectorShift = header.readUInt16LE(0x1e);
  if (header.readUInt16LE(0x1c) !== 0xfffe) return corrupt;
  if (!((major === 3 && sectorShift === 9) || (major === 4 && sectorShift === 12))) return corrupt;
  const sectorSize = 1 << sectorShift;
  const sectorCount = Math.max(0, Math.ceil((size - sectorSize) / sectorSize));
  const perSector = sectorSize / 4;
  const fatSectorCount = header.readUInt32LE(0x2c);
  const firstDirectorySector = header.readUInt32LE(0x30);
  let difatSector = header.readUInt32LE(0x44);
  const difatCount = header.readUInt32LE(0x48);
  if (fatSectorCount > sectorCount || difatCount > sectorCount) return corrupt;

  const validSector = (sector: number) => sector < FREE_OR_END && sector < sectorCount;
  const readSector = async (sector: number) => {
    const data = await readAt((sector + 1) * sectorSize, sectorSize);
    return data.length === sectorSize ? data : null;
  };

  // Where the FAT lives: the first 109 sectors listed in the header, the rest in the DIFAT chain.
  const fatSectors: number[] = [];
  for (let i = 0; i < Math.min(HEADER_DIFAT_ENTRIES, fatSectorCount); i++) {
    fatSectors.push(header.readUInt32LE(0x4c + i * 4));
  }
  for (let i = 0; i < difatCount && fatSectors.length < fatSectorCount; i++) {
    if (!validSector(difatSector)) return corrupt;
    const data = await readSector(difatSector);
    if (!data) return corrupt;
    for (let j = 0; j < perSector - 1 && fatSectors.length < fatSectorCount; j++) {
      fatSectors.push(data.readUInt32LE(j * 4));
    }
    difatSector = data.readUInt32LE(sectorSize - 4);
  }
  if (fatSectors.length !== fatSectorCount || !fatSectors.every(validSector)) return corrupt;

  const fatCache = new Map<number, Buffer>();
  const nextSector = async (sector: number): Promise<number | null> => {
    const fatIndex = Math.floor(sector / perSector);
    const fatSector = fatSectors[fatIndex];
    if (fatSector === undefined) return null;
    let data = fatCache.get(fatIndex);
    if (!data) {
      const read = await readSector(fatSector);
      if (!read) return null;
      data = read;
      fatCache.set(fatIndex, data);
    }
    return data.readUInt32LE((sector % perSector) * 4);
  };

  const streams = new Set<string>();
  const storages = new Set<string>();
  const seen = new Set<number>();
  let sector = firstDirectorySector;
  while (sector !== END_OF_CHAIN) {
    if (!validSector(sector) || seen.has(sector) || seen.size >= MAX_DIRECTORY_SECTORS) return corrupt;
    seen.add(sector);
    const data = await readSector(sector);
    if (!data) return corrupt;
    for (let at = 0; at < sectorSize; at += DIRECTORY_ENTRY_SIZE) {
      const type = data[at + 0x42];
      const nameLength = data.readUInt16LE(at + 0x40);
      if (type === 0 || nameLength < 2 || nameLength > 64) continue;
      const name = data.toString('utf16le', at, at + nameLength - 2);
      if (type === 1) storages.add(name);
      else if (type === 2) streams.add(name);
    }
    const next = await nextSector(sector);
    if (next === null) return corrupt;
    sector = next;
  }

  if (storages.has('Macros') || storages.has('_VBA_PROJECT_CUR')) return { refused: 'macros' };
  const word = streams.has('WordDocument');
  const excel = streams.has('Workbook') || streams.has('Book');
  if (word === excel) return { refused: 'unsupported' };
  return { ext: word ? 'doc' : 'xls' };
}
