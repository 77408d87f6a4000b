// Calls to callrec's admin APIs, as any client makes them: POST with the sign-in in the query
// string (sdkappid, identifier, usersig, random, contenttype=json) and a JSON body.

import * as session from './session.js';

/** A failed API call: `code` is the API's error code (0 for a network or HTTP failure). */
export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// Error codes that mean the sign-in itself is not (or no longer) good, per generation.
const V1_SIGNIN = { 70002: 'invalid', 70003: 'expired', 70004: 'not-admin' };
const V4_SIGNIN = {
  70001: 'expired', 70003: 'invalid', 70009: 'invalid', 70013: 'invalid', 70014: 'invalid',
  70020: 'invalid', 60010: 'not-admin',
};

function query(s) {
  const random = crypto.getRandomValues(new Uint32Array(1))[0];
  return new URLSearchParams({
    sdkappid: s.sdkappid, identifier: s.identifier, usersig: s.usersig,
    random: String(random), contenttype: 'json',
  }).toString();
}

async function post(path, body, s) {
  let resp;
  try {
    resp = await fetch(`/${path}?${query(s)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message})`);
  }
  let json;
  try {
    json = await resp.json();
  } catch {
    throw new ApiError(0, `HTTP ${resp.status}: not a JSON answer`);
  }
  return json;
}

function signinFailed(reason, message) {
  window.dispatchEvent(new CustomEvent('callrec:signin', { detail: { reason, message } }));
}

/**
 * A v1 API (`records/get_records_by_filter`, …): resolves to `data`, rejects with ApiError.
 * With the stored sign-in (no `candidate`), a refused sign-in also tells the page to ask again.
 */
export async function v1(path, body = {}, candidate = null) {
  const json = await post(`v1/${path}`, body, candidate ?? session.current());
  if (json.errorCode !== 0) {
    if (!candidate && V1_SIGNIN[json.errorCode]) signinFailed(V1_SIGNIN[json.errorCode], json.errorMessage);
    throw new ApiError(json.errorCode, json.errorMessage);
  }
  return json.data;
}

/** A v4 API (`call_config/get_callback`, …): resolves to `Response` (or {}), rejects with ApiError. */
export async function v4(path, body = {}) {
  const json = await post(`v4/${path}`, body, session.current());
  if (json.ErrorCode !== 0) {
    if (V4_SIGNIN[json.ErrorCode]) signinFailed(V4_SIGNIN[json.ErrorCode], json.ErrorInfo);
    throw new ApiError(json.ErrorCode, json.ErrorInfo);
  }
  return json.Response ?? {};
}
