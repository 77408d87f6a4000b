// The sign-in: an app's sdkappid, an admin identifier and a UserSig, kept in this tab's
// sessionStorage only. `callrec console` prints a link carrying them in the URL fragment (which
// browsers never send to a server); the page moves them to sessionStorage and drops the fragment.

const KEY = 'callrec.console.session';

/** The current sign-in, or null. */
export function current() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY));
    return value && value.sdkappid && value.identifier && value.usersig ? value : null;
  } catch {
    return null;
  }
}

/** Stores a sign-in. */
export function save(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

/** Forgets the sign-in. */
export function clear() {
  sessionStorage.removeItem(KEY);
}

/**
 * Takes a sign-in out of a `#sdkappid=…&identifier=…&usersig=…` fragment: stores it and
 * replaces the address with the Calls view. True when the fragment had one.
 */
export function takeFromFragment() {
  const hash = location.hash.slice(1);
  if (!hash.includes('usersig=')) return false;
  const params = new URLSearchParams(hash);
  const session = {
    sdkappid: (params.get('sdkappid') ?? '').trim(),
    identifier: params.get('identifier') ?? '',
    usersig: (params.get('usersig') ?? '').trim(),
  };
  history.replaceState(null, '', `${location.pathname}#/calls`);
  if (!session.sdkappid || !session.identifier || !session.usersig) return false;
  save(session);
  return true;
}

/**
 * When a UserSig stops being valid (`TLS.time + TLS.expire`, Unix seconds), read from the
 * UserSig itself (base64 with `*-_` for `+/=`, of zlib-compressed JSON); null if it does not
 * decode. The server decides; this only lets the page ask for a new one in time.
 */
export async function expiresAt(usersig) {
  try {
    const b64 = usersig.replaceAll('*', '+').replaceAll('-', '/').replaceAll('_', '=');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    const token = JSON.parse(await new Response(stream).text());
    const time = Number(token['TLS.time']);
    const expire = Number(token['TLS.expire']);
    return Number.isFinite(time) && Number.isFinite(expire) ? time + expire : null;
  } catch {
    return null;
  }
}
