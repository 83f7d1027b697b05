import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { crc32 } from 'node:zlib';

/** A stored ZIP (no compression) with the given entry names; options break it on purpose. */
export function buildZip(
  names: readonly string[],
  options: {
    comment?: string;
    flags?: number;
    corruptLocalName?: boolean;
    zip64?: boolean;
    /** The uncompressed size the central directory claims for every entry (a zip bomb's). */
    declaredSize?: number;
  } = {},
): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const name of names) {
    const nameBytes = Buffer.from(name);
    const data = Buffer.from(`<!-- ${name} -->`);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(options.flags ?? 0, 6);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const localName = options.corruptLocalName ? Buffer.from(nameBytes).fill(0x78) : nameBytes;
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(options.flags ?? 0, 8);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(options.declaredSize ?? data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, localName, data);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const centralDirectory = Buffer.concat(centrals);
  const comment = Buffer.from(options.comment ?? '');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(names.length, 8);
  end.writeUInt16LE(names.length, 10);
  end.writeUInt32LE(centralDirectory.length, 12);
  end.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 16);
  end.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...locals, centralDirectory, end, comment]);
}

/**
 * A compound file (OLE2) whose directory lists the given storages (type 1)
 * and streams (type 2); `loop` makes the directory chain point back at itself.
 */
export function buildOle2(
  entries: readonly { name: string; type: 1 | 2 }[],
  options: { sectorShift?: 9 | 12; loop?: boolean } = {},
): Buffer {
  const shift = options.sectorShift ?? 9;
  const sectorSize = 1 << shift;
  const all = [{ name: 'Root Entry', type: 5 }, ...entries];
  const perSector = sectorSize / 128;
  const directorySectors = Math.ceil(all.length / perSector);
  const header = Buffer.alloc(sectorSize);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(header, 0);
  header.writeUInt16LE(0x3e, 0x18);
  header.writeUInt16LE(shift === 9 ? 3 : 4, 0x1a);
  header.writeUInt16LE(0xfffe, 0x1c);
  header.writeUInt16LE(shift, 0x1e);
  header.writeUInt16LE(6, 0x20);
  header.writeUInt32LE(1, 0x2c); // one FAT sector
  header.writeUInt32LE(1, 0x30); // directory starts at sector 1
  header.writeUInt32LE(4096, 0x38);
  header.writeUInt32LE(0xfffffffe, 0x3c);
  header.writeUInt32LE(0xfffffffe, 0x44);
  for (let i = 0; i < 109; i++) header.writeUInt32LE(i === 0 ? 0 : 0xffffffff, 0x4c + i * 4);
  const fat = Buffer.alloc(sectorSize, 0xff);
  fat.writeUInt32LE(0xfffffffd, 0); // sector 0 holds the FAT
  for (let i = 1; i <= directorySectors; i++) {
    const last = i === directorySectors;
    fat.writeUInt32LE(last ? (options.loop ? 1 : 0xfffffffe) : i + 1, i * 4);
  }
  const directory = Buffer.alloc(directorySectors * sectorSize);
  all.forEach((entry, i) => {
    const at = i * 128;
    const name = Buffer.from(entry.name, 'utf16le');
    name.copy(directory, at);
    directory.writeUInt16LE(name.length + 2, at + 0x40);
    directory[at + 0x42] = entry.type;
    directory[at + 0x43] = 1;
    directory.writeUInt32LE(0xffffffff, at + 0x44);
    directory.writeUInt32LE(0xffffffff, at + 0x48);
    directory.writeUInt32LE(0xffffffff, at + 0x4c);
    directory.writeUInt32LE(0xfffffffe, at + 0x74);
  });
  return Buffer.concat([header, fat, directory]);
}

const pngHead = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);

/** Small files of every kind: the first bytes are real signatures, the rest is filler. */
export const SAMPLES = {
  jpg: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]), Buffer.from('JFIF\0'), Buffer.alloc(64, 7)]),
  png: Buffer.concat([pngHead, Buffer.alloc(64, 1)]),
  gif: Buffer.concat([Buffer.from('GIF89a'), Buffer.from([1, 0, 1, 0, 0x80, 0, 0]), Buffer.alloc(32)]),
  webp: Buffer.concat([Buffer.from('RIFF'), Buffer.from([36, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.alloc(28)]),
  pdf: Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n', 'latin1'),
  doc: buildOle2([
    { name: 'WordDocument', type: 2 },
    { name: '1Table', type: 2 },
  ]),
  xls: buildOle2([{ name: 'Workbook', type: 2 }]),
  docx: buildZip(['[Content_Types].xml', '_rels/.rels', 'word/document.xml', 'word/styles.xml']),
  xlsx: buildZip(['[Content_Types].xml', '_rels/.rels', 'xl/workbook.xml', 'xl/worksheets/sheet1.xml']),
  docm: buildZip(['[Content_Types].xml', 'word/document.xml', 'word/vbaProject.bin']),
  txt: Buffer.from('订单号 2024-001\t数量 12\r\nOrder 2024-001, qty 12 ✓\n'),
  gifPolyglot: Buffer.concat([
    Buffer.from('GIF89a'),
    Buffer.from('/*\x01\x00\x01\x00\x00\x00\x00*/=1;</script><html><script>alert(document.domain)</script></html>'),
  ]),
  html: Buffer.from('<!DOCTYPE html><html><body><script>alert(1)</script></body></html>'),
  svg: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
  elf: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(56)]),
  pe: Buffer.concat([Buffer.from('MZ'), Buffer.from([0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff]), Buffer.alloc(50)]),
  macho: Buffer.concat([Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]), Buffer.alloc(24)]),
  wasm: Buffer.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
  shebang: Buffer.from('#!/bin/sh\nrm -rf ~\n'),
  zip: buildZip(['readme.txt', 'photo.jpg']),
  binary: Buffer.from([0x13, 0x37, 0x00, 0x42, 0xff, 0xfe, 0x00, 0x01]),
};

/** Every file under `dir` (dot-files included), as paths relative to it. */
export function listFiles(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
      .filter((entry) => entry.isFile())
      .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
