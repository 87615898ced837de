/**
 * Which hosts inbound media may be fetched from (`MEDIA_ALLOWED_HOSTS`): exact host names and
 * `*.suffix` patterns. A URL in a webhook is the sender's choice; only these hosts are fetched.
 */

/**
 * The messengers' own file hosts. VK: signed CDN links on `sun9-*.userapi.com` / `psv4.userapi.com`
 * and `vk.com/doc…` links that redirect there (shared/reference/vk-api.md §4), newer `vk.ru` and
 * `*.vkuser.net` / `*.vk-cdn.net` CDN nodes. Meta: `lookaside.fbsbx.com` and `*.fbcdn.net`
 * (whatsapp-cloud-api.md §8.1), `*.whatsapp.net` media hosts.
 */
export const DEFAULT_MEDIA_ALLOWED_HOSTS = [
  'vk.com',
  '*.vk.com',
  'vk.ru',
  '*.vk.ru',
  '*.userapi.com',
  '*.vkuser.net',
  '*.vk-cdn.net',
  '*.fbsbx.com',
  '*.fbcdn.net',
  '*.whatsapp.net',
] as const;

/** Host names as URLs give them: lowercase, punycode, IPv6 in brackets; a trailing dot dropped. */
function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/**
 * One entry of the list → its normalised form, or an error text. `*.example.com` matches every
 * subdomain of example.com (not example.com itself); anything else is one exact host (a name, an
 * IPv4 address or a bracketed IPv6 address), without scheme, port or path.
 */
export function parseHostPattern(entry: string): { pattern: string } | { error: string } {
  const raw = entry.trim();
  const wildcard = raw.startsWith('*.');
  const host = wildcard ? raw.slice(2) : raw;
  if (host === '' || host.includes('*')) return { error: `"${raw}": use a host name or *.suffix` };
  let url: URL;
  try {
    url = new URL(`http://${host}/`);
  } catch {
    return { error: `"${raw}" is not a host name` };
  }
  if (url.port !== '' || url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[/?#@:]/.test(host.replace(/^\[.*\]$/, ''))) {
    return { error: `"${raw}": a host name only, without scheme, port or path` };
  }
  const normalized = normalizeHost(url.hostname);
  if (wildcard && !normalized.includes('.')) return { error: `"${raw}": a wildcard needs a domain with a dot (*.example.com)` };
  return { pattern: wildcard ? `*.${normalized}` : normalized };
}

/** `a.com, *.b.com` → normalised patterns; throws naming every bad entry. Empty entries are skipped. */
export function parseHostPatterns(list: string): string[] {
  const patterns: string[] = [];
  const errors: string[] = [];
  for (const entry of list.split(',')) {
    if (entry.trim() === '') continue;
    const r = parseHostPattern(entry);
    if ('error' in r) errors.push(r.error);
    else patterns.push(r.pattern);
  }
  if (errors.length) throw new Error(errors.join('; '));
  return patterns;
}

/** Is `hostname` (as `URL.hostname` gives it) one of `patterns` (normalised by parseHostPatterns)? */
export function hostAllowed(hostname: string, patterns: readonly string[]): boolean {
  const host = normalizeHost(hostname);
  if (host === '') return false;
  return patterns.some((p) => (p.startsWith('*.') ? host.length > p.length - 1 && host.endsWith(p.slice(1)) : host === p));
}
