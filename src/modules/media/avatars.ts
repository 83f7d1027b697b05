/**
 * The default avatars, drawn by this project: a coloured disc with a white
 * glyph per role, rendered as small PNGs (raster, so they are safe to serve
 * inline, unlike SVG) into MEDIA_DIR/avatars/<role>.png.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROLES, type Role } from '@cs-chat/contracts/rest/user.schemas';
import { MEDIA_PREFIX } from '../../lib/media-url.ts';
import { encodePng } from './png.ts';

export const AVATAR_SIZE = 128;
const SUPERSAMPLING = 4;

/** Where a role's default avatar is served from, as stored in users.avatar. */
export function defaultAvatarPath(role: Role): string {
  return `${MEDIA_PREFIX}avatars/${role}.png`;
}

type Glyph = (x: number, y: number) => boolean;

const inRect = (x: number, y: number, x0: number, y0: number, x1: number, y1: number) =>
  x >= x0 && x <= x1 && y >= y0 && y <= y1;

function inRoundRect(x: number, y: number, x0: number, y0: number, x1: number, y1: number, r: number): boolean {
  const dx = Math.max(x0 + r - x, 0, x - (x1 - r));
  const dy = Math.max(y0 + r - y, 0, y - (y1 - r));
  return inRect(x, y, x0, y0, x1, y1) && dx * dx + dy * dy <= r * r;
}

const inRing = (x: number, y: number, cx: number, cy: number, r: number, width: number) =>
  Math.abs(Math.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r) <= width / 2;

function nearSegment(x: number, y: number, ax: number, ay: number, bx: number, by: number, width: number): boolean {
  const t = Math.max(0, Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)));
  return (x - (ax + t * (bx - ax))) ** 2 + (y - (ay + t * (by - ay))) ** 2 <= (width / 2) ** 2;
}

/** Colour and glyph per role, in a unit square (y grows downwards). */
const DESIGNS: Record<Role, { colour: readonly [number, number, number]; glyph: Glyph }> = {
  // A shopping bag.
  buyer: {
    colour: [0xf5, 0x9e, 0x0b],
    glyph: (x, y) =>
      inRoundRect(x, y, 0.31, 0.42, 0.69, 0.75, 0.04) || (inRing(x, y, 0.5, 0.42, 0.1, 0.05) && y < 0.42),
  },
  // A shop front: awning, walls and a door.
  merchant: {
    colour: [0x10, 0xb9, 0x81],
    glyph: (x, y) =>
      inRoundRect(x, y, 0.25, 0.28, 0.75, 0.4, 0.03) ||
      (inRect(x, y, 0.3, 0.4, 0.7, 0.73) && !inRect(x, y, 0.445, 0.54, 0.555, 0.73) && !(y > 0.4 && y < 0.44)),
  },
  // A headset with a microphone.
  service: {
    colour: [0x3b, 0x82, 0xf6],
    glyph: (x, y) =>
      (inRing(x, y, 0.5, 0.5, 0.19, 0.05) && y < 0.52) ||
      inRoundRect(x, y, 0.26, 0.46, 0.37, 0.65, 0.035) ||
      inRoundRect(x, y, 0.63, 0.46, 0.74, 0.65, 0.035) ||
      (inRing(x, y, 0.5, 0.56, 0.18, 0.035) && y > 0.62 && x > 0.5) ||
      (x - 0.5) ** 2 + (y - 0.74) ** 2 <= 0.04 ** 2,
  },
  // A shield with a check mark.
  admin: {
    colour: [0x8b, 0x5c, 0xf6],
    glyph: (x, y) => {
      const halfWidth = y < 0.5 ? 0.2 : 0.2 * Math.max(0, 1 - (y - 0.5) / 0.28) ** 0.7;
      const shield = y >= 0.25 && y <= 0.78 && Math.abs(x - 0.5) <= halfWidth;
      const check = nearSegment(x, y, 0.41, 0.51, 0.48, 0.58, 0.05) || nearSegment(x, y, 0.48, 0.58, 0.6, 0.43, 0.05);
      return shield && !check;
    },
  },
};

/** The role's avatar as PNG bytes; the same bytes every time. */
export function renderAvatar(role: Role, size = AVATAR_SIZE): Buffer {
  const { colour, glyph } = DESIGNS[role];
  const pixels = new Uint8Array(size * size * 4);
  const samples = SUPERSAMPLING * SUPERSAMPLING;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let disc = 0;
      let white = 0;
      for (let sy = 0; sy < SUPERSAMPLING; sy++) {
        for (let sx = 0; sx < SUPERSAMPLING; sx++) {
          const x = (px + (sx + 0.5) / SUPERSAMPLING) / size;
          const y = (py + (sy + 0.5) / SUPERSAMPLING) / size;
          if ((x - 0.5) ** 2 + (y - 0.5) ** 2 > 0.25) continue;
          disc++;
          if (glyph(x, y)) white++;
        }
      }
      const at = (py * size + px) * 4;
      if (disc === 0) continue; // transparent
      for (let c = 0; c < 3; c++) {
        pixels[at + c] = Math.round(((colour[c] ?? 0) * (disc - white) + 255 * white) / disc);
      }
      pixels[at + 3] = Math.round((255 * disc) / samples);
    }
  }
  return encodePng(size, size, pixels);
}

const rendered = new Map<Role, Buffer>();
/** renderAvatar at the default size, drawn once per process. */
function defaultAvatar(role: Role): Buffer {
  let png = rendered.get(role);
  if (!png) {
    png = renderAvatar(role);
    rendered.set(role, png);
  }
  return png;
}

/**
 * Writes MEDIA_DIR/avatars/<role>.png for every role that has none yet (an
 * operator's own file is left alone). Atomic per file: a temporary file is
 * renamed into place, so a reader never sees half a PNG. Returns the roles written.
 */
export async function ensureDefaultAvatars(mediaDir: string): Promise<Role[]> {
  const directory = join(mediaDir, 'avatars');
  await mkdir(directory, { recursive: true });
  const written: Role[] = [];
  for (const role of ROLES) {
    const target = join(directory, `${role}.png`);
    if (
      await stat(target).then(
        () => true,
        () => false,
      )
    )
      continue;
    const temp = join(directory, `.avatar-${randomBytes(8).toString('hex')}.tmp`);
    try {
      await writeFile(temp, defaultAvatar(role), { flag: 'wx', mode: 0o644 });
      await rename(temp, target);
      written.push(role);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }
  return written;
}
