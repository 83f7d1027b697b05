import { lookup } from 'node:dns/promises';
import { BlockList, type IPVersion, isIP } from 'node:net';
import { unprocessable } from '../../lib/errors.ts';

/**
 * Where a webhook may point (docs/WEBHOOKS.md, "Safety"): `https://` to a
 * public address; `http://` only to loopback and only when DEBUG=True (a
 * receiver on the developer's machine or in a test); private networks only
 * when the admin allows them for that endpoint; link-local, metadata,
 * multicast and unspecified addresses never. A name counts by every address it
 * resolves to, so one private answer refuses it. The delivery worker asks
 * again at connect time (DNS rebinding).
 */
export interface UrlPolicy {
  /** DEBUG=True: plain http to a loopback address is accepted. */
  allowLoopbackHttp: boolean;
  /** The endpoint's `allow_private_network`. */
  allowPrivateNetwork: boolean;
}

export type ResolveHost = (hostname: string) => Promise<string[]>;

export const resolveHost: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

type AddressClass = 'public' | 'loopback' | 'private' | 'forbidden';

function blockList(v4: readonly string[], v6: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of v4) {
    const [net, bits] = cidr.split('/');
    list.addSubnet(net as string, Number(bits), 'ipv4');
  }
  for (const cidr of v6) {
    const [net, bits] = cidr.split('/');
    list.addSubnet(net as string, Number(bits), 'ipv6');
  }
  return list;
}

/** Never a webhook target, whatever the endpoint allows: link-local (cloud metadata lives there), unspecified, multicast, reserved. */
const FORBIDDEN = blockList(
  ['0.0.0.0/8', '169.254.0.0/16', '100.100.100.200/32', '192.0.0.0/24', '224.0.0.0/4', '240.0.0.0/4'],
  ['::/128', 'fe80::/10', 'ff00::/8', 'fd00:ec2::254/128'],
);
const LOOPBACK = blockList(['127.0.0.0/8'], ['::1/128']);
/** Private networks: allowed only with `allow_private_network`. */
const PRIVATE = blockList(
  ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '198.18.0.0/15'],
  ['fc00::/7', 'fec0::/10'],
);

/** What kind of address `address` is (an IPv4-mapped IPv6 address counts as its IPv4 one). */
export function classifyAddress(address: string): AddressClass {
  let ip = address;
  let family: IPVersion = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) {
    ip = mapped[1] as string;
    family = 'ipv4';
  }
  if (FORBIDDEN.check(ip, family)) return 'forbidden';
  if (LOOPBACK.check(ip, family)) return 'loopback';
  if (PRIVATE.check(ip, family)) return 'private';
  return 'public';
}

/** Why `address` may not be reached over `protocol` ('https:' or 'http:'), or undefined when it may. */
export function refusalOf(address: string, protocol: string, policy: UrlPolicy): string | undefined {
  const kind = classifyAddress(address);
  if (protocol === 'http:') {
    return policy.allowLoopbackHttp && kind === 'loopback'
      ? undefined
      : 'http:// only to loopback, and only when DEBUG=True; use https://';
  }
  if (kind === 'forbidden') return `${address} is link-local, reserved or a metadata address`;
  if (kind === 'loopback' && !(policy.allowLoopbackHttp || policy.allowPrivateNetwork)) {
    return `${address} is a loopback address`;
  }
  if (kind === 'private' && !policy.allowPrivateNetwork) {
    return `${address} is a private address (allow_private_network to allow it)`;
  }
  return undefined;
}

const refused = (code: 'webhook_url_invalid' | 'webhook_url_refused' | 'webhook_url_unresolvable', why: string) =>
  unprocessable(code, [`body.url: ${why}`]);

/**
 * Throws `webhook_url_invalid` (not an https URL), `webhook_url_unresolvable`
 * (the name has no address) or `webhook_url_refused` (an address it may not
 * reach); returns the addresses it checked.
 */
export async function checkWebhookUrl(raw: string, policy: UrlPolicy, resolve: ResolveHost): Promise<string[]> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused('webhook_url_invalid', 'not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused('webhook_url_invalid', 'must be https://');
  if (url.hostname === '') throw refused('webhook_url_invalid', 'no host');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) throw refused('webhook_url_unresolvable', `${host} has no address`);
  }
  for (const address of addresses) {
    const why = refusalOf(address, url.protocol, policy);
    if (why !== undefined) {
      throw refused(why.startsWith('http://') ? 'webhook_url_invalid' : 'webhook_url_refused', why);
    }
  }
  return addresses;
}
