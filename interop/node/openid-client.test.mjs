// Interoperability: openid-client 6 and jose 6 (npm), which actas did not
// write, drive the reference server (examples/server) through the whole
// impersonation flow: discovery, the authorize step as a browser does it
// (the HTML login form, cookies, the redirect's fragment), the token
// exchange (RFC 8693) with genericGrantRequest, verification of the access
// token with jose against the JWKS (typ at+jwt, issuer, audience),
// the UserInfo endpoint with fetchUserInfo, introspection and revocation,
// and the RFC errors these clients surface.
//
// It starts nothing: interop/run starts the server on a free loopback port
// and passes its issuer in ISSUER. By hand:
//
//   go run ./examples/server -addr 127.0.0.1:8080 &
//   cd interop && npm ci && ISSUER=http://127.0.0.1:8080 node --test node/
//
// The server allows 10 impersonation starts per impersonator per minute:
// this file authorizes fewer times than that.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';

const ISSUER = process.env.ISSUER;
if (!ISSUER) {
  throw new Error('ISSUER is not set: start the reference server and export ISSUER=http://127.0.0.1:PORT (interop/run does both)');
}

const CLIENT_ID = 'cli';
const CLIENT_SECRET = 'cli-secret-not-for-production';
const REDIRECT_URI = 'https://oauth.pstmn.io/v1/callback';
const ADMIN = { username: 'alice', password: 'alice-demo-password' };
const API_AUDIENCE = `${ISSUER}/api`;
const SCOPE = 'internal_user_impersonate openid orders:read';
const GRANTED_SCOPE = 'openid orders:read'; // bob's scopes for cli, minus internal_user_impersonate

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

const HTTP_TIMEOUT_MS = 10_000;

// Browser is a user agent with a cookie jar that never follows redirects,
// so that the redirect to the client, with the tokens in its fragment, is
// read from the Location header instead of being fetched.
class Browser {
  cookies = new Map();

  async fetch(url, init = {}) {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const expired = attrs.some((a) => /^max-age=(0|-\d+)$/i.test(a)) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

// signIn logs in through the server's HTML form (GET /login for the
// session cookie and the CSRF token, POST the form) and returns the
// browser, now holding the signed-in session.
async function signIn({ username, password } = ADMIN) {
  const browser = new Browser();
  const page = await browser.fetch(new URL('/login', ISSUER));
  assert.equal(page.status, 200, 'GET /login');
  const html = await page.text();
  const csrf = html.match(/name="csrf_token" value="([^"]*)"/)?.[1];
  assert.ok(csrf, 'the login form has a csrf_token field');
  const res = await browser.fetch(new URL('/login', ISSUER), {
    method: 'POST',
    body: new URLSearchParams({ username, password, csrf_token: csrf }),
  });
  assert.equal(res.status, 303, `POST /login as ${username}: ${await res.text()}`);
  assert.ok(browser.cookies.size > 0, 'the login set a session cookie');
  return browser;
}

// authorize asks the authorize endpoint, as the signed-in browser, for a
// subject token for requestedSubject and the impersonator's ID token, and
// returns the parameters of the redirect's fragment.
async function authorize(config, browser, requestedSubject = 'bob') {
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    response_type: 'id_token subject_token',
    scope: SCOPE,
    requested_subject: requestedSubject,
    state,
    nonce,
  });
  assert.equal(url.origin + url.pathname, config.serverMetadata().authorization_endpoint);
  const res = await browser.fetch(url);
  assert.equal(res.status, 302, `GET /oauth2/authorize: ${await res.text()}`);
  const location = new URL(res.headers.get('location'));
  assert.equal(location.origin + location.pathname, REDIRECT_URI, 'redirected to the registered redirect_uri');
  assert.equal(location.search, '', 'nothing in the query: response mode fragment');
  const fragment = new URLSearchParams(location.hash.slice(1));
  assert.equal(fragment.get('error'), null, `authorize error: ${fragment.get('error')} ${fragment.get('error_description')}`);
  assert.equal(fragment.get('state'), state, 'state comes back');
  const subjectToken = fragment.get('subject_token');
  const idToken = fragment.get('id_token');
  assert.ok(subjectToken, 'the fragment has a subject_token');
  assert.ok(idToken, 'the fragment has an id_token');
  return { subjectToken, idToken, nonce, state };
}

// exchange performs the token exchange with openid-client's
// genericGrantRequest: bob's subject token, alice's ID token as the actor
// token, for the demo API's audience.
function exchange(config, { subjectToken, idToken }, extra = {}) {
  return client.genericGrantRequest(config, TOKEN_EXCHANGE, {
    subject_token: subjectToken,
    subject_token_type: TYPE_JWT,
    actor_token: idToken,
    actor_token_type: TYPE_ID_TOKEN,
    requested_token_type: TYPE_ACCESS_TOKEN,
    audience: API_AUDIENCE,
    ...extra,
  });
}

// discover runs openid-client's discovery against ISSUER, allowing plain
// HTTP for the loopback server.
function discover(secret = CLIENT_SECRET, auth) {
  return client.discovery(new URL(ISSUER), CLIENT_ID, secret, auth, {
    execute: [client.allowInsecureRequests],
    timeout: HTTP_TIMEOUT_MS / 1000,
  });
}

// rejectsWith asserts that promise rejects with an instance of cls whose
// OAuth error code is code, and returns the error.
async function rejectsWith(promise, cls, check) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${caught?.name}: ${caught?.message}`);
  check?.(caught);
  return caught;
}

let config; // client_secret_post, openid-client's default with a secret
let jwks;
let browser;

before(async () => {
  config = await discover();
  jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri), { timeoutDuration: HTTP_TIMEOUT_MS });
  browser = await signIn();
});

test('discovery: openid-client reads the server metadata', () => {
  const md = config.serverMetadata();
  assert.equal(md.issuer, ISSUER);
  for (const [field, path] of [
    ['authorization_endpoint', '/oauth2/authorize'],
    ['token_endpoint', '/oauth2/token'],
    ['userinfo_endpoint', '/oauth2/userinfo'],
    ['jwks_uri', '/oauth2/jwks'],
    ['introspection_endpoint', '/oauth2/introspect'],
    ['revocation_endpoint', '/oauth2/revoke'],
  ]) {
    assert.equal(md[field], ISSUER + path, field);
  }
  assert.ok(md.grant_types_supported.includes(TOKEN_EXCHANGE));
  assert.ok(md.response_types_supported.includes('id_token subject_token'));
  assert.deepEqual(md.id_token_signing_alg_values_supported, ['ES256']);
  assert.ok(md.token_endpoint_auth_methods_supported.includes('client_secret_post'));
  assert.ok(md.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
});

test('authorize, exchange, verify with jose, introspect, revoke', async (t) => {
  const tokens = await authorize(config, browser);

  await t.test('jose verifies the subject token and the ID token from the fragment', async () => {
    const st = await jose.jwtVerify(tokens.subjectToken, jwks, { issuer: ISSUER, audience: CLIENT_ID, typ: 'subject+jwt', algorithms: ['ES256'] });
    assert.equal(st.payload.sub, 'bob');
    assert.deepEqual(st.payload.may_act, { sub: 'alice' });
    assert.equal(st.payload.client_id, CLIENT_ID);
    assert.equal(st.payload.azp, CLIENT_ID);
    assert.ok(st.payload.jti, 'jti');
    const id = await jose.jwtVerify(tokens.idToken, jwks, { issuer: ISSUER, audience: CLIENT_ID, typ: 'JWT', algorithms: ['ES256'] });
    assert.equal(id.payload.sub, 'alice');
    assert.equal(id.payload.nonce, tokens.nonce);
    assert.equal(typeof id.payload.auth_time, 'number');
    assert.ok(id.payload.s_hash, 's_hash');
  });

  const response = await exchange(config, tokens);
  assert.equal(response.issued_token_type, TYPE_ACCESS_TOKEN);
  assert.equal(response.token_type.toLowerCase(), 'bearer');
  assert.equal(response.expires_in, 3600);
  assert.equal(response.scope, GRANTED_SCOPE);
  assert.equal(response.refresh_token, undefined);

  await t.test('the exchange gives the impersonated user\'s ID token too, which openid-client and jose verify', async () => {
    assert.ok(response.id_token, 'openid granted: id_token beside the access token');
    const validated = response.claims(); // openid-client validated iss, aud, exp, iat and the signature algorithm
    assert.equal(validated.sub, 'bob');
    const id = await jose.jwtVerify(response.id_token, jwks, { issuer: ISSUER, audience: CLIENT_ID, typ: 'JWT', algorithms: ['ES256'] });
    assert.equal(id.payload.sub, 'bob');
    assert.deepEqual(id.payload.act, { sub: 'alice' });
    assert.equal(id.payload.azp, CLIENT_ID);
    assert.equal(typeof id.payload.auth_time, 'number');
    assert.equal(id.payload.org_id, 'acme-eu');
    assert.equal(id.payload.org_name, 'ACME Europe');
    assert.equal(id.payload.nonce, undefined, 'no nonce was bound to the exchange');
  });

  const { payload, protectedHeader } = await jose.jwtVerify(response.access_token, jwks, {
    issuer: ISSUER,
    audience: API_AUDIENCE,
    typ: 'at+jwt',
    algorithms: ['ES256'],
  });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.ok(protectedHeader.kid, 'kid');
  assert.equal(payload.sub, 'bob');
  assert.deepEqual(payload.act, { sub: 'alice' });
  assert.equal(payload.scope, GRANTED_SCOPE);
  assert.equal(payload.client_id, CLIENT_ID);
  assert.equal(payload.org_id, 'acme-eu');
  assert.equal(payload.exp - payload.iat, 3600);

  // The demo API accepts it, through openid-client's protected resource call.
  const api = await client.fetchProtectedResource(config, response.access_token, new URL('/api/me', ISSUER), 'GET');
  assert.equal(api.status, 200);
  const me = await api.json();
  assert.equal(me.sub, 'bob');
  assert.deepEqual(me.act, { sub: 'alice' });

  const active = await client.tokenIntrospection(config, response.access_token);
  assert.equal(active.active, true);
  assert.equal(active.sub, 'bob');
  assert.deepEqual(active.act, { sub: 'alice' });
  assert.equal(active.client_id, CLIENT_ID);
  assert.equal(active.scope, GRANTED_SCOPE);
  assert.equal(active.iss, ISSUER);
  assert.deepEqual([active.aud].flat(), [API_AUDIENCE]);
  assert.equal(active.token_type, 'Bearer');

  await client.tokenRevocation(config, response.access_token, { token_type_hint: 'access_token' });

  const inactive = await client.tokenIntrospection(config, response.access_token);
  assert.deepEqual(inactive, { active: false });

  // The API refuses the revoked token with an RFC 6750 challenge.
  const refused = await rejectsWith(
    client.fetchProtectedResource(config, response.access_token, new URL('/api/me', ISSUER), 'GET'),
    client.WWWAuthenticateChallengeError,
  );
  assert.equal(refused.status, 401);
  assert.equal(refused.cause[0].scheme, 'bearer');
  assert.equal(refused.cause[0].parameters.error, 'invalid_token');
});

test('requested_token_type id_token: the ID token is the issued token (token_type N_A)', async () => {
  const tokens = await authorize(config, browser);
  const res = await fetch(config.serverMetadata().token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: TOKEN_EXCHANGE,
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      subject_token: tokens.subjectToken,
      subject_token_type: TYPE_JWT,
      actor_token: tokens.idToken,
      actor_token_type: TYPE_ID_TOKEN,
      requested_token_type: TYPE_ID_TOKEN,
    }),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.issued_token_type, TYPE_ID_TOKEN);
  assert.equal(body.token_type, 'N_A');
  const id = await jose.jwtVerify(body.access_token, jwks, { issuer: ISSUER, audience: CLIENT_ID, typ: 'JWT', algorithms: ['ES256'] });
  assert.equal(id.payload.sub, 'bob');
  assert.deepEqual(id.payload.act, { sub: 'alice' });
  // It is no access token: jose refuses it as one.
  await rejectsWith(jose.jwtVerify(body.access_token, jwks, { issuer: ISSUER, audience: CLIENT_ID, typ: 'at+jwt' }), jose.errors.JWTClaimValidationFailed);
});

test('client_secret_basic: the exchange with openid-client\'s Basic authentication', async () => {
  const basic = await discover(CLIENT_SECRET, client.ClientSecretBasic());
  const tokens = await authorize(basic, browser);
  const response = await exchange(basic, tokens, { scope: 'openid' });
  assert.equal(response.scope, 'openid', 'a narrower scope than granted');
  const { payload } = await jose.jwtVerify(response.access_token, jwks, { issuer: ISSUER, audience: API_AUDIENCE, typ: 'at+jwt' });
  assert.equal(payload.sub, 'bob');
  assert.deepEqual(payload.act, { sub: 'alice' });
  assert.equal(payload.scope, 'openid');
});

test('negative: a replayed subject token is invalid_request; a refused attempt does not burn it', async () => {
  const tokens = await authorize(config, browser);

  // An audience the client may not ask for: invalid_target, and the
  // subject token is still unused afterwards.
  await rejectsWith(exchange(config, tokens, { audience: 'https://elsewhere.example/api' }), client.ResponseBodyError, (err) => {
    assert.equal(err.error, 'invalid_target');
    assert.equal(err.status, 400);
  });

  const first = await exchange(config, tokens);
  assert.ok(first.access_token);

  await rejectsWith(exchange(config, tokens), client.ResponseBodyError, (err) => {
    assert.equal(err.error, 'invalid_request');
    assert.equal(err.status, 400);
    assert.equal(err.cause.error, 'invalid_request');
  });
});

test('negative: a bad client secret is invalid_client (401)', async (t) => {
  const tokens = await authorize(config, browser);

  await t.test('client_secret_post: ResponseBodyError invalid_client', async () => {
    const bad = await discover('not-the-secret');
    await rejectsWith(exchange(bad, tokens), client.ResponseBodyError, (err) => {
      assert.equal(err.error, 'invalid_client');
      assert.equal(err.status, 401);
    });
  });

  await t.test('client_secret_basic: the 401 carries a Basic challenge, which openid-client surfaces first', async () => {
    // RFC 6749 §5.2: a client that authenticated with the Authorization
    // header gets a WWW-Authenticate header with its 401. oauth4webapi
    // reports any such challenge as WWWAuthenticateChallengeError before
    // it reads the body; the body is still the invalid_client error.
    const bad = await discover('not-the-secret', client.ClientSecretBasic());
    const err = await rejectsWith(exchange(bad, tokens), client.WWWAuthenticateChallengeError);
    assert.equal(err.status, 401);
    assert.equal(err.cause[0].scheme, 'basic');
    const body = await err.response.json();
    assert.equal(body.error, 'invalid_client');
  });

  // Neither attempt consumed the subject token.
  const ok = await exchange(config, tokens);
  assert.ok(ok.access_token);
});

test('negative: the subject token and the ID token are not access tokens', async () => {
  const tokens = await authorize(config, browser);
  for (const [name, token, audience] of [
    ['subject token', tokens.subjectToken, CLIENT_ID],
    ['ID token', tokens.idToken, CLIENT_ID],
  ]) {
    // Signature, issuer and audience all check out: only typ tells them apart.
    await jose.jwtVerify(token, jwks, { issuer: ISSUER, audience });
    await rejectsWith(jose.jwtVerify(token, jwks, { issuer: ISSUER, audience, typ: 'at+jwt' }), jose.errors.JWTClaimValidationFailed, (err) => {
      assert.equal(err.claim, 'typ', `${name}: refused for its typ`);
      assert.equal(err.reason, 'check_failed');
    });
    // The demo API refuses it as a bearer token.
    const res = await fetch(new URL('/api/me', ISSUER), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    assert.equal(res.status, 401, `${name} as a bearer token at /api/me`);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  }
});

test('fetchUserInfo: the impersonated user\'s claims, and who is acting', async () => {
  const tokens = await authorize(config, browser);
  const response = await exchange(config, tokens);

  // openid-client's GET with the Bearer token; it requires sub to be the
  // subject the client expects: bob, whom the token speaks for.
  const info = await client.fetchUserInfo(config, response.access_token, 'bob');
  assert.deepEqual(info, { sub: 'bob', act: { sub: 'alice' }, org_id: 'acme-eu', org_name: 'ACME Europe' });

  // A client that expected the impersonator is told the token is not hers.
  await rejectsWith(client.fetchUserInfo(config, response.access_token, 'alice'), client.ClientError, (err) => {
    assert.equal(err.code, 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED');
  });

  // Revoked, it no longer speaks for anyone: an RFC 6750 challenge.
  await client.tokenRevocation(config, response.access_token, { token_type_hint: 'access_token' });
  const refused = await rejectsWith(client.fetchUserInfo(config, response.access_token, 'bob'), client.WWWAuthenticateChallengeError);
  assert.equal(refused.status, 401);
  assert.equal(refused.cause[0].scheme, 'bearer');
  assert.equal(refused.cause[0].parameters.realm, 'userinfo');
  assert.equal(refused.cause[0].parameters.error, 'invalid_token');
});
