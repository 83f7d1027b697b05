import { readFileSync } from 'node:fs';
import { checkChain, signatureValid, TRANSCRIPT_FORMAT, type TranscriptDocument } from '../lib/transcript-chain.ts';
import { runCommand, UsageError } from './cli.ts';

const USAGE = `Verify a transcript export (GET /api/conversations/{id}/transcript) offline:
its Ed25519 signature, then its hash chain entry by entry. Names the first
entry that fails. Exit 0: verified; 1: it fails; 2: a usage mistake.

Usage:
  npm run transcript:verify -- <file> [--key <public-key.pem>]

--key: the server's public key (GET /api/transcript-key, its public_key field
saved as a file). Without it the key inside the export is used: then compare
the key id printed with the server's published key.`;

function parse(args: string[]): { file: string; keyFile?: string } {
  const rest = [...args];
  let keyFile: string | undefined;
  const at = rest.indexOf('--key');
  if (at !== -1) {
    keyFile = rest[at + 1];
    if (!keyFile) throw new UsageError('--key needs a file.');
    rest.splice(at, 2);
  }
  const [file, ...more] = rest;
  if (!file || more.length > 0) throw new UsageError('Give exactly one transcript file.');
  return keyFile ? { file, keyFile } : { file };
}

runCommand({
  usage: USAGE,
  async run(args) {
    const { file, keyFile } = parse(args);
    const document = JSON.parse(readFileSync(file, 'utf8')) as TranscriptDocument;
    if (document.format !== TRANSCRIPT_FORMAT || !Array.isArray(document.entries)) {
      throw new Error(`${file} is not a transcript (format ${TRANSCRIPT_FORMAT}).`);
    }
    const publicKey = keyFile ? readFileSync(keyFile, 'utf8') : document.public_key;
    if (!signatureValid(document, publicKey)) {
      throw new Error(
        `FAILED: the signature does not verify with ${keyFile ? keyFile : 'the key in the export'}: the export was altered after signing, or signed by another key.`,
      );
    }
    const check = checkChain(document.conversation_id, document.entries, document.head);
    if (!check.valid) {
      const where =
        check.kind === 'head'
          ? 'after the last entry'
          : `at entry #${check.index} (${check.kind}${check.seq === null ? '' : `, seq ${check.seq}`})`;
      throw new Error(`FAILED ${where}: ${check.reason}.`);
    }
    console.log(
      `OK: conversation ${document.conversation_id}, ${check.entries} entries (${check.redacted} redacted, hash taken as given), head ${document.head ?? 'none'}; signed by key ${document.key_id}${keyFile ? ` (checked with ${keyFile})` : ' (the key inside the export: compare it with GET /api/transcript-key)'}.`,
    );
  },
});
