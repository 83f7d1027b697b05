import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32, inflateSync } from 'node:zlib';
import { AVATAR_SIZE, defaultAvatarPath, renderAvatar } from '../src/modules/media/avatars.ts';
import { HEAD_BYTES, sniffHead, TextValidator } from '../src/modules/media/file-sniffer.ts';
import { contentDisposition, servedContentHeaders } from '../src/modules/media/file-types.ts';
import { MAX_FILENAME_BYTES, sanitiseFilename } from '../src/modules/media/filename.ts';
import { inspectOle2, inspectZip, MAX_ZIP_ENTRIES, type ReadAt } from '../src/modules/media/office-containers.ts';
import { encodePng } from '../src/modules/media/png.ts';
import { buildOle2, buildZip, SAMPLES } from './helpers/media-samples.ts';

const readerOf =
  (bytes: Buffer): ReadAt =>
  async (position, length) =>
    bytes.subarray(position, Math.min(bytes.length, position + length));

/** The head verdict the upload store would reach for a whole small file. */
function sniff(bytes: Buffer) {
  const text = new TextValidator();
  text.push(bytes);
  return sniffHead(bytes.subarray(0, HEAD_BYTES), text.ok);
}

describe('magic numbers', () => {
  test('each accepted signature is recognised, whatever follows it', () => {
    assert.deepEqual(sniff(SAMPLES.jpg), { kind: 'type', ext: 'jpg' });
    assert.deepEqual(sniff(SAMPLES.png), { kind: 'type', ext: 'png' });
    assert.deepEqual(sniff(SAMPLES.gif), { kind: 'type', ext: 'gif' });
    assert.deepEqual(sniff(Buffer.from('GIF87a\x01\x00')), { kind: 'type', ext: 'gif' });
    assert.deepEqual(sniff(SAMPLES.webp), { kind: 'type', ext: 'webp' });
    assert.deepEqual(sniff(SAMPLES.pdf), { kind: 'type', ext: 'pdf' });
    assert.deepEqual(sniff(SAMPLES.docx), { kind: 'zip' });
    assert.deepEqual(sniff(SAMPLES.doc), { kind: 'ole2' });
    assert.deepEqual(sniff(SAMPLES.txt), { kind: 'text' });
    // A polyglot is what its signature says.
    assert.deepEqual(sniff(SAMPLES.gifPolyglot), { kind: 'type', ext: 'gif' });
  });

  test('a RIFF file that is not WebP (WAV, AVI) is refused', () => {
    assert.deepEqual(sniff(Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ')), { kind: 'refused', reason: 'not_text' });
  });

  test('executables and scripts are refused as such', () => {
    for (const sample of [SAMPLES.elf, SAMPLES.pe, SAMPLES.shebang, SAMPLES.macho, SAMPLES.wasm]) {
      assert.deepEqual(sniff(sample), { kind: 'refused', reason: 'executable' }, sample.toString('latin1', 0, 16));
    }
  });

  test('markup is refused even when it is clean UTF-8', () => {
    for (const sample of [
      SAMPLES.html,
      SAMPLES.svg,
      Buffer.from('\uFEFF  \n<!DOCTYPE html><p>hi'),
      Buffer.from('<?xml version="1.0"?><svg/>'),
      Buffer.from('hello\n<script>alert(1)</script>'),
      Buffer.from('Notes <IFRAME src=x>'),
      Buffer.from('<note>x</note>'),
    ]) {
      assert.deepEqual(sniff(sample), { kind: 'refused', reason: 'markup' }, sample.toString());
    }
  });

  test('unknown binary, UTF-16 text and control characters are not text', () => {
    for (const sample of [
      SAMPLES.binary,
      Buffer.from('\uFEFFhello', 'utf16le'),
      Buffer.from('hello\x00world'),
      Buffer.from('bell\x07'),
      Buffer.from('escape \x1b[31m red'),
      Buffer.from('delete \x7f'),
      Buffer.from([0x68, 0x69, 0xc0, 0xaf]), // overlong encoding
    ]) {
      assert.deepEqual(sniff(sample), { kind: 'refused', reason: 'not_text' }, sample.toString('hex'));
    }
  });
});

describe('TextValidator', () => {
  test('accepts UTF-8 split anywhere across chunks, with tab, CR, LF and a BOM', () => {
    const bytes = Buffer.from('\uFEFF第一行\tcolumn\r\n第二行 ✓ 😀\n');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const validator = new TextValidator();
      assert.equal(validator.push(bytes.subarray(0, cut)), true);
      assert.equal(validator.push(bytes.subarray(cut)), true);
      assert.equal(validator.end(), true, `cut at ${cut}`);
    }
  });

  test('refuses a multi-byte sequence cut off at the end', () => {
    const validator = new TextValidator();
    assert.equal(validator.push(Buffer.from('ok \xe4\xb8', 'latin1')), true);
    assert.equal(validator.end(), false);
  });

  test('refuses C1 controls even when their two bytes arrive in different chunks', () => {
    const validator = new TextValidator();
    assert.equal(validator.push(Buffer.from([0x61, 0xc2])), true);
    assert.equal(validator.push(Buffer.from([0x85, 0x62])), false);
    assert.equal(validator.ok, false);
    const fine = new TextValidator();
    assert.equal(fine.push(Buffer.from('café ©')), true);
    assert.equal(fine.end(), true);
  });

  test('once failed it stays failed', () => {
    const validator = new TextValidator();
    validator.push(Buffer.from([0x00]));
    assert.equal(validator.push(Buffer.from('fine')), false);
    assert.equal(validator.end(), false);
  });
});

describe('ZIP: DOCX and XLSX', () => {
  const inspect = (bytes: Buffer) => inspectZip(readerOf(bytes), bytes.length);

  test('a Word and an Excel package are told apart by their entries', async () => {
    assert.deepEqual(await inspect(SAMPLES.docx), { ext: 'docx' });
    assert.deepEqual(await inspect(SAMPLES.xlsx), { ext: 'xlsx' });
  });

  test('[Content_Types].xml may come anywhere, and an archive comment is fine', async () => {
    const zip = buildZip(['word/document.xml', '_rels/.rels', '[Content_Types].xml'], { comment: 'made by a test' });
    assert.deepEqual(await inspect(zip), { ext: 'docx' });
  });

  test('other archives are refused: plain ZIP, no content types, both word/ and xl/, macros', async () => {
    assert.deepEqual(await inspect(SAMPLES.zip), { refused: 'unsupported' });
    assert.deepEqual(await inspect(buildZip(['word/document.xml'])), { refused: 'unsupported' });
    assert.deepEqual(await inspect(buildZip(['[Content_Types].xml', 'ppt/presentation.xml'])), {
      refused: 'unsupported',
    });
    assert.deepEqual(await inspect(buildZip(['[Content_Types].xml', 'word/document.xml', 'xl/workbook.xml'])), {
      refused: 'unsupported',
    });
    assert.deepEqual(await inspect(SAMPLES.docm), { refused: 'macros' });
  });

  test('damaged or unusual archives are refused as corrupt', async () => {
    const good = SAMPLES.docx;
    const cases: Record<string, Buffer> = {
      'trailing bytes after the end record': Buffer.concat([good, Buffer.from('<html>')]),
      'no end record': good.subarray(0, good.length - 22),
      'truncated central directory': Buffer.concat([good.subarray(0, good.length - 40), good.subarray(-22)]),
      'a local header that does not match': buildZip(['[Content_Types].xml', 'word/document.xml'], {
        corruptLocalName: true,
      }),
      'an encrypted entry': buildZip(['[Content_Types].xml', 'word/document.xml'], { flags: 1 }),
      'ZIP64 markers': buildZip(['[Content_Types].xml', 'word/document.xml'], { zip64: true }),
      'bytes before the first entry': Buffer.concat([Buffer.from('PK\x03\x04junk'), good]),
      'too small': Buffer.from('PK\x03\x04'),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      assert.deepEqual(await inspect(bytes), { refused: 'corrupt' }, name);
    }
  });
});

describe('ZIP: bombs are refused from the central directory alone', () => {
  const inspect = (bytes: Buffer) => inspectZip(readerOf(bytes), bytes.length);
  const docx = ['[Content_Types].xml', '_rels/.rels', 'word/document.xml'];

  test('too many entries', async () => {
    const names = [...docx, ...Array.from({ length: MAX_ZIP_ENTRIES - 2 }, (_, i) => `word/media/p${i}.xml`)];
    assert.deepEqual(await inspect(buildZip(names)), { refused: 'bomb' });
    assert.deepEqual(await inspect(buildZip(names.slice(0, MAX_ZIP_ENTRIES))), { ext: 'docx' });
  });

  test('an absurd total size, or an absurd ratio to the file size', async () => {
    // Three entries claiming 400 MiB each: 1.2 GiB in all.
    assert.deepEqual(await inspect(buildZip(docx, { declaredSize: 400 * 1024 * 1024 })), { refused: 'bomb' });
    // 3 × 30 MiB from a file of a few hundred bytes: far past 200:1.
    assert.deepEqual(await inspect(buildZip(docx, { declaredSize: 30 * 1024 * 1024 })), { refused: 'bomb' });
    // 3 × 20 MiB is under the floor where ratios matter: a tiny file of repeated cells is harmless.
    assert.deepEqual(await inspect(buildZip(docx, { declaredSize: 20 * 1024 * 1024 })), { ext: 'docx' });
  });
});

describe('OLE2: DOC and XLS', () => {
  const inspect = (bytes: Buffer) => inspectOle2(readerOf(bytes), bytes.length);

  test('WordDocument makes a DOC, Workbook or Book an XLS', async () => {
    assert.deepEqual(await inspect(SAMPLES.doc), { ext: 'doc' });
    assert.deepEqual(await inspect(SAMPLES.xls), { ext: 'xls' });
    assert.deepEqual(await inspect(buildOle2([{ name: 'Book', type: 2 }])), { ext: 'xls' });
  });

  test('the directory is followed across sectors, and 4096-byte sectors work', async () => {
    const many = Array.from({ length: 9 }, (_, i) => ({ name: `Stream${i}`, type: 2 as const }));
    assert.deepEqual(await inspect(buildOle2([...many, { name: 'WordDocument', type: 2 }])), { ext: 'doc' });
    assert.deepEqual(await inspect(buildOle2([{ name: 'Workbook', type: 2 }], { sectorShift: 12 })), { ext: 'xls' });
  });

  test('other compound files and macro documents are refused', async () => {
    assert.deepEqual(await inspect(buildOle2([{ name: 'PowerPoint Document', type: 2 }])), { refused: 'unsupported' });
    assert.deepEqual(await inspect(buildOle2([{ name: 'EncryptedPackage', type: 2 }])), { refused: 'unsupported' });
    assert.deepEqual(
      await inspect(
        buildOle2([
          { name: 'WordDocument', type: 2 },
          { name: 'Workbook', type: 2 },
        ]),
      ),
      { refused: 'unsupported' },
    );
    assert.deepEqual(
      await inspect(
        buildOle2([
          { name: 'WordDocument', type: 2 },
          { name: 'Macros', type: 1 },
        ]),
      ),
      { refused: 'macros' },
    );
    assert.deepEqual(
      await inspect(
        buildOle2([
          { name: 'Workbook', type: 2 },
          { name: '_VBA_PROJECT_CUR', type: 1 },
        ]),
      ),
      { refused: 'macros' },
    );
  });

  test('broken structures are refused, loops included', async () => {
    const many = Array.from({ length: 6 }, (_, i) => ({ name: `S${i}`, type: 2 as const }));
    assert.deepEqual(await inspect(buildOle2(many, { loop: true })), { refused: 'corrupt' });
    const badOrder = Buffer.from(SAMPLES.doc);
    badOrder.writeUInt16LE(0xfeff, 0x1c);
    assert.deepEqual(await inspect(badOrder), { refused: 'corrupt' });
    const badShift = Buffer.from(SAMPLES.doc);
    badShift.writeUInt16LE(10, 0x1e);
    assert.deepEqual(await inspect(badShift), { refused: 'corrupt' });
    const outside = Buffer.from(SAMPLES.doc);
    outside.writeUInt32LE(999, 0x30); // directory beyond the end of the file
    assert.deepEqual(await inspect(outside), { refused: 'corrupt' });
    assert.deepEqual(await inspect(SAMPLES.doc.subarray(0, 600)), { refused: 'corrupt' });
  });
});

describe('sanitiseFilename', () => {
  test('keeps the last path segment only, for / and \\', () => {
    assert.equal(sanitiseFilename('../../etc/passwd.txt', 'txt'), 'passwd.txt');
    assert.equal(sanitiseFilename('C:\\Users\\li\\报价单.pdf', 'pdf'), '报价单.pdf');
    assert.equal(sanitiseFilename('/absolute/path/photo.JPEG', 'jpg'), 'photo.JPEG');
  });

  test('removes control and direction-override characters, leading dots and trailing dots/spaces', () => {
    assert.equal(sanitiseFilename('in\u0000voice\r\n.pdf', 'pdf'), 'invoice.pdf');
    assert.equal(sanitiseFilename('photo\u202Egnp.exe', 'png'), 'photognp.exe.png');
    assert.equal(sanitiseFilename('...hidden.txt', 'txt'), 'hidden.txt');
    assert.equal(sanitiseFilename('report.pdf. . ', 'pdf'), 'report.pdf');
  });

  test('normalises to NFC', () => {
    assert.equal(sanitiseFilename('Cafe\u0301.txt', 'txt'), 'Caf\u00e9.txt');
  });

  test('an extension that does not match the bytes gets the detected one appended', () => {
    assert.equal(sanitiseFilename('x.exe', 'png'), 'x.exe.png');
    assert.equal(sanitiseFilename('page.html', 'gif'), 'page.html.gif');
    assert.equal(sanitiseFilename('noextension', 'pdf'), 'noextension.pdf');
    assert.equal(sanitiseFilename('data.csv', 'txt'), 'data.csv');
    assert.equal(sanitiseFilename('photo.jpeg', 'jpg'), 'photo.jpeg');
  });

  test('falls back to a generic name when nothing is left', () => {
    assert.equal(sanitiseFilename(undefined, 'png'), 'image.png');
    assert.equal(sanitiseFilename('', 'pdf'), 'file.pdf');
    assert.equal(sanitiseFilename('..', 'txt'), 'file.txt');
    assert.equal(sanitiseFilename('a/b/', 'docx'), 'file.docx');
    assert.equal(sanitiseFilename('\u0001\u0002', 'gif'), 'image.gif');
  });

  test('is at most 255 UTF-8 bytes, cut on a character boundary, extension kept', () => {
    const safe = sanitiseFilename(`${'报'.repeat(200)}.xlsx`, 'xlsx');
    assert.ok(Buffer.byteLength(safe) <= MAX_FILENAME_BYTES, String(Buffer.byteLength(safe)));
    assert.match(safe, /^报+\.xlsx$/);
    const emoji = sanitiseFilename(`${'😀'.repeat(100)}.txt`, 'txt');
    assert.ok(Buffer.byteLength(emoji) <= MAX_FILENAME_BYTES);
    assert.equal(emoji.toWellFormed(), emoji);
    assert.ok(emoji.endsWith('.txt'));
    assert.equal(sanitiseFilename('short.pdf', 'pdf'), 'short.pdf');
  });
});

describe('served content headers', () => {
  test('allow-listed extensions get their type; only raster images are inline', () => {
    assert.deepEqual(servedContentHeaders('/m/a.png'), {
      'content-type': 'image/png',
      'content-disposition': 'inline',
    });
    assert.deepEqual(servedContentHeaders('/m/a.JPEG'), {
      'content-type': 'image/jpeg',
      'content-disposition': 'inline',
    });
    assert.deepEqual(servedContentHeaders('/m/a.pdf'), {
      'content-type': 'application/pdf',
      'content-disposition': 'attachment',
    });
    assert.deepEqual(servedContentHeaders('/m/a.txt'), {
      'content-type': 'text/plain; charset=utf-8',
      'content-disposition': 'attachment',
    });
  });

  test('anything else is an octet-stream download', () => {
    for (const name of ['a.svg', 'a.html', 'a.js', 'a.exe', 'noext', '.png', 'a.toString', 'a.__proto__']) {
      assert.deepEqual(
        servedContentHeaders(`/m/${name}`),
        { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment' },
        name,
      );
    }
  });

  test('the original name is offered as RFC 6266 filename* (UTF-8) with an ASCII filename fallback', () => {
    assert.equal(
      servedContentHeaders('/m/0123abcd.pdf', '测试文档.pdf')['content-disposition'],
      `attachment; filename="____.pdf"; filename*=UTF-8''%E6%B5%8B%E8%AF%95%E6%96%87%E6%A1%A3.pdf`,
    );
    assert.equal(
      servedContentHeaders('/m/0123abcd.png', 'a.png')['content-disposition'],
      `inline; filename="a.png"; filename*=UTF-8''a.png`,
    );
    // Quotes, backslashes, percent signs, semicolons and spaces can neither end nor confuse the parameter.
    const tricky = contentDisposition('attachment', `a"b\\c%20; filename=x.exe 'q' (1).txt`);
    assert.equal(
      tricky,
      `attachment; filename="a_b_c_20; filename=x.exe 'q' (1).txt"; ` +
        `filename*=UTF-8''a%22b%5Cc%2520%3B%20filename%3Dx.exe%20%27q%27%20%281%29.txt`,
    );
    // What a browser does with filename*: the exact name back.
    const encoded = tricky.slice(tricky.indexOf("UTF-8''") + 7);
    assert.equal(decodeURIComponent(encoded), `a"b\\c%20; filename=x.exe 'q' (1).txt`);
    assert.equal(contentDisposition('inline', null), 'inline');
  });
});

/** Decodes the PNGs this project writes (8-bit RGBA, filter 0), checking every CRC. */
function decodePng(bytes: Buffer): { width: number; height: number; rgba: Buffer } {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let at = 8;
  const chunks: { type: string; data: Buffer }[] = [];
  while (at < bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + length);
    assert.equal(bytes.readUInt32BE(at + 8 + length), crc32(bytes.subarray(at + 4, at + 8 + length)), `${type} CRC`);
    chunks.push({ type, data });
    at += 12 + length;
  }
  assert.deepEqual(
    chunks.map((c) => c.type),
    ['IHDR', 'IDAT', 'IEND'],
  );
  const header = chunks[0]?.data ?? Buffer.alloc(0);
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  assert.deepEqual([...header.subarray(8)], [8, 6, 0, 0, 0]);
  const raw = inflateSync(chunks[1]?.data ?? Buffer.alloc(0));
  assert.equal(raw.length, (width * 4 + 1) * height);
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width * 4 + 1)], 0);
    raw.copy(rgba, y * width * 4, y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1));
  }
  return { width, height, rgba };
}

describe('PNG encoder and default avatars', () => {
  test('encodePng round-trips pixels and checks its input', () => {
    const pixels = Buffer.from([255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 1, 2, 3, 4, 5, 6]);
    const png = encodePng(3, 1, pixels.subarray(0, 12));
    assert.deepEqual(decodePng(png), { width: 3, height: 1, rgba: pixels.subarray(0, 12) });
    assert.throws(() => encodePng(2, 2, pixels), RangeError);
    assert.throws(() => encodePng(0, 1, Buffer.alloc(0)), RangeError);
  });

  test('each role has its own avatar: a disc of its colour with a white glyph, transparent corners', () => {
    const seen = new Set<string>();
    for (const role of ['buyer', 'merchant', 'service', 'admin'] as const) {
      const png = renderAvatar(role);
      assert.ok(png.length < 8 * 1024, `${role}: ${png.length} bytes`);
      assert.deepEqual(renderAvatar(role), png, 'deterministic');
      const { width, height, rgba } = decodePng(png);
      assert.deepEqual([width, height], [AVATAR_SIZE, AVATAR_SIZE]);
      const pixel = (x: number, y: number) => [...rgba.subarray((y * width + x) * 4, (y * width + x) * 4 + 4)];
      assert.equal(pixel(0, 0)[3], 0, 'corner is transparent');
      assert.equal(pixel(width - 1, height - 1)[3], 0);
      const disc = pixel(6, height / 2); // inside the disc, outside the glyph
      assert.equal(disc[3], 255);
      assert.ok(
        disc.slice(0, 3).some((c) => c !== 255),
        'the disc is coloured',
      );
      let white = 0;
      for (let i = 0; i < width * height; i++) if (rgba.readUInt32BE(i * 4) === 0xffffffff) white++;
      assert.ok(white > width * height * 0.05, `${role} has a glyph (${white} white pixels)`);
      seen.add(png.toString('base64'));
      assert.equal(defaultAvatarPath(role), `/api/media/avatars/${role}.png`);
    }
    assert.equal(seen.size, 4);
  });
});
