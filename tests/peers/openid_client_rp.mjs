// A strict OpenID Connect relying party for authx's tests: panva's openid-client 6 (which runs on
// oauth4webapi) against a running authx, with nothing validated by hand that openid-client
// validates itself. The script plays the browser too: it drives authx's real login and consent
// pages over HTTP (cookies kept by hand, redirects not followed) and stops at the redirect to the
// client, reading the code from the Location header (nothing listens at the redirect URI).
//
// Usage: node openid_client_rp.mjs '<config JSON>'   (or no argument / '-' to read it from stdin)
//
// Config:
//   {
//     "issuer": "http://127.0.0.1:PORT",
//     "client_id": "...",
//     "client_secret"?: "...",                   // absent: a public client (auth method none)
//     "token_endpoint_auth_method"?: "client_secret_basic" | "client_secret_post",
//     "redirect_uri": "http://127.0.0.1:PORT/callback",
//     "post_logout_redirect_uri": "...",         // registered for the client
//     "identifier": "...", "password": "...",    // the person who signs in
//     "scope": "openid profile email offline_access ...",
//     "id_token_signed_response_alg": "ES256" | "RS256" | "EdDSA" (optional; default RS256),
//     "introspection_client"?: { "client_id", "client_secret" }
//         // a confidential client (a resource server) for introspection; defaults to the client
//         // itself when it is confidential. Public clients cannot introspect.
//   }
//
// Steps: discovery → authorization URL (PKCE S256, state, nonce, max_age) → login page → consent
// page → authorization response (RFC 9207 `iss` checked by openid-client) → code grant (ID token
// signature against the JWKS, iss, aud, azp, exp, iat, nonce, auth_time/max_age, alg) → userinfo
// (expected subject) → introspection → refresh (rotation; the old token refused) → revocation
// (access and refresh tokens; introspection then says inactive; the revoked refresh token is
// refused) → RP-initiated logout (redirect back with `state`; the session is gone).
//
// stdout: one JSON object (what was seen and which checks passed). Any failure: a message on
// stderr and exit code 1.

import { createHash } from 'node:crypto';

import * as client from 'openid-client';

const checks = [];
let step = 'start';

/** Records a passed check. */
function passed(name) {
  checks.push(name);
}

/** Fails the run unless `condition` holds. */
function expect(condition, message, detail) {
  if (!condition) {
    const error = new Error(message);
    error.detail = detail;
    throw error;
  }
}

async function readConfig() {
  const arg = process.argv[2];
  if (arg && arg !== '-') return JSON.parse(arg);
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

// --- The browser: a cookie jar for the issuer's origin, redirects handled by hand. -------------

class Browser {
  constructor(origin) {
    this.origin = origin;
    this.cookies = new Map();
  }

  remember(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => {
        const [k, v] = a.split('=').map((s) => s.trim());
        if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
        return false;
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url, init = {}) {
    url = new URL(url, this.origin);
    expect(url.origin === this.origin, `the browser was sent off the issuer to ${url.href}`);
    const headers = new Headers(init.headers);
    if (this.cookies.size) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.remember(response);
    return response;
  }

  get(url) {
    return this.request(url);
  }

  post(url, fields) {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

function location(response, what) {
  expect(
    response.status === 303 || response.status === 302,
    `${what}: expected a redirect, got HTTP ${response.status}`,
  );
  const value = response.headers.get('location');
  expect(value, `${what}: a redirect without Location`);
  return value;
}

function unescapeHtml(value) {
  return value
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

/** The value of hidden field `name` inside the form posting to `action`. */
function formField(html, action, name) {
  const start = html.indexOf(`action="${action}"`);
  expect(start >= 0, `no form posting to ${action}`, html.slice(0, 2000));
  const end = html.indexOf('</form>', start);
  const form = html.slice(start, end);
  const match = form.match(new RegExp(`name="${name}" value="([^"]*)"`));
  expect(match, `no ${name} field in the form posting to ${action}`, form);
  return unescapeHtml(match[1]);
}

/** The error code of a failed openid-client call (token endpoint errors). */
function oauthError(error) {
  return error?.error ?? error?.cause?.error ?? error?.code ?? String(error);
}

// --- The run. ------------------------------------------------------------------------------------

async function run(cfg) {
  const issuer = new URL(cfg.issuer);
  // Unregistered, the ID-token algorithm is RS256 on both sides (OpenID Connect Core §15.1).
  const alg = cfg.id_token_signed_response_alg ?? 'RS256';
  const isPublic = !cfg.client_secret;
  const authMethod = isPublic ? 'none' : (cfg.token_endpoint_auth_method ?? 'client_secret_basic');
  const clientAuth = isPublic
    ? client.None()
    : authMethod === 'client_secret_post'
      ? client.ClientSecretPost(cfg.client_secret)
      : client.ClientSecretBasic(cfg.client_secret);
  const metadata = {
    // When registered, openid-client refuses an ID token signed with any other algorithm;
    // unregistered, it expects RS256.
    ...(cfg.id_token_signed_response_alg ? { id_token_signed_response_alg: alg } : {}),
    // An ID token without auth_time is refused.
    require_auth_time: true,
    token_endpoint_auth_method: authMethod,
    ...(isPublic ? {} : { client_secret: cfg.client_secret }),
  };

  step = 'discovery';
  const config = await client.discovery(issuer, cfg.client_id, metadata, clientAuth, {
    // http://127.0.0.1, and the ID token's signature verified against the JWKS (the token
    // endpoint's TLS alone would otherwise vouch for it).
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
  const server = config.serverMetadata();
  expect(server.issuer === cfg.issuer, 'discovery: issuer', server.issuer);
  expect(server.supportsPKCE('S256'), 'discovery: S256 PKCE advertised');
  expect(
    server.authorization_response_iss_parameter_supported === true,
    'discovery: RFC 9207 iss advertised',
  );
  expect(
    server.id_token_signing_alg_values_supported?.includes(alg),
    `discovery: ${alg} advertised for ID tokens`,
  );
  passed('discovery');

  step = 'authorization request';
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const maxAge = 300;
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: cfg.redirect_uri,
    scope: cfg.scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    max_age: String(maxAge),
  });

  // The browser: authorize → login page → password → authorize → consent → back to the client.
  const browser = new Browser(issuer.origin);
  let r = await browser.get(authorizationUrl);
  const toLogin = new URL(location(r, 'authorize (signed out)'), issuer);
  expect(toLogin.pathname === '/login', 'signed out: sent to the login page', toLogin.href);
  const returnTo = toLogin.searchParams.get('return_to');
  expect(returnTo?.startsWith('/oauth2/authorize?'), 'the login page returns to authorize', returnTo);
  passed('authorize redirects to the login page');

  step = 'login';
  r = await browser.get(toLogin);
  expect(r.status === 200, `login page: HTTP ${r.status}`);
  expect(browser.cookies.has('authx_csrf'), 'login page: the authx_csrf cookie is set');
  let html = await r.text();
  const loginCsrf = formField(html, '/login/password', 'csrf_token');
  expect(loginCsrf === browser.cookies.get('authx_csrf'), 'login form: csrf_token is the cookie');
  expect(
    formField(html, '/login/password', 'return_to') === returnTo,
    'login form: return_to carried',
  );
  r = await browser.post('/login/password', {
    identifier: cfg.identifier,
    password: cfg.password,
    csrf_token: loginCsrf,
    return_to: returnTo,
  });
  const afterLogin = location(r, 'password login');
  expect(afterLogin === returnTo, 'after login: back to the authorization request', afterLogin);
  expect(browser.cookies.has('authx_session'), 'after login: a session cookie');
  passed('password login through the login page');

  step = 'consent';
  r = await browser.get(afterLogin);
  expect(r.status === 200, `consent page: HTTP ${r.status}`);
  html = await r.text();
  expect(html.includes('wants to access your account'), 'the consent page', html.slice(0, 2000));
  r = await browser.post('/oauth2/consent', {
    csrf_token: formField(html, '/oauth2/consent', 'csrf_token'),
    request: formField(html, '/oauth2/consent', 'request'),
    decision: 'allow',
  });
  const callback = new URL(location(r, 'consent'));
  expect(
    callback.href.startsWith(`${cfg.redirect_uri}?`),
    'consent: redirected to the client',
    callback.href,
  );
  passed('consent page answered');

  step = 'authorization code grant';
  // openid-client checks the authorization response (state, RFC 9207 iss, no error), sends the
  // code with the PKCE verifier, and validates the token response and the ID token.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    maxAge,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  expect(claims, 'an ID token');
  expect(tokens.token_type === 'bearer', 'token_type Bearer', tokens.token_type);
  expect(typeof tokens.refresh_token === 'string' || !cfg.scope.split(' ').includes('offline_access'),
    'offline_access: a refresh token');
  const idTokenHeader = JSON.parse(
    Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString('utf8'),
  );
  expect(idTokenHeader.alg === alg, `ID token signed ${alg}`, idTokenHeader);
  expect(typeof idTokenHeader.kid === 'string', 'ID token header has a kid', idTokenHeader);
  // Beyond openid-client (it does not check at_hash in the code flow, where it is optional: OIDC
  // Core §3.1.3.8): the hash as oauth4webapi's idTokenHash would compute it for this alg.
  const hashAlg = { ES256: 'sha256', RS256: 'sha256', EdDSA: 'sha512' }[alg];
  const digest = createHash(hashAlg).update(tokens.access_token).digest();
  const atHash = digest.subarray(0, digest.length / 2).toString('base64url');
  expect(claims.at_hash === atHash, 'at_hash matches the access token', {
    claims,
    expected: atHash,
  });
  passed('authorization code grant (state, iss, PKCE, ID token signature, nonce, auth_time)');

  step = 'userinfo';
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  passed('userinfo (expected subject)');

  step = 'introspection';
  let introspector = null;
  if (cfg.introspection_client) {
    const ic = cfg.introspection_client;
    introspector = new client.Configuration(
      server,
      ic.client_id,
      { client_secret: ic.client_secret },
      client.ClientSecretBasic(ic.client_secret),
    );
    client.allowInsecureRequests(introspector);
  } else if (!isPublic) {
    introspector = config;
  }
  const introspection = {};
  if (introspector) {
    const at = await client.tokenIntrospection(introspector, tokens.access_token, {
      token_type_hint: 'access_token',
    });
    expect(at.active === true, 'introspection: the access token is active', at);
    expect(at.sub === claims.sub, 'introspection: sub', at);
    expect(at.client_id === cfg.client_id, 'introspection: client_id', at);
    introspection.access_token = at;
    passed('introspection: access token active');
    if (!isPublic && introspector === config && tokens.refresh_token) {
      const rt = await client.tokenIntrospection(config, tokens.refresh_token, {
        token_type_hint: 'refresh_token',
      });
      expect(rt.active === true, 'introspection: the refresh token is active', rt);
      introspection.refresh_token = rt;
      passed('introspection: refresh token active');
    }
  }

  step = 'refresh';
  let refresh = null;
  if (tokens.refresh_token) {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    expect(typeof refreshed.refresh_token === 'string', 'refresh: a new refresh token');
    expect(refreshed.refresh_token !== tokens.refresh_token, 'refresh: the refresh token rotated');
    expect(refreshed.access_token !== tokens.access_token, 'refresh: a new access token');
    const refreshedClaims = refreshed.claims();
    if (refreshedClaims) {
      // OIDC Core §12.2 (openid-client validated signature, iss, aud, exp, iat, alg).
      expect(refreshedClaims.sub === claims.sub, 'refresh ID token: same sub', refreshedClaims);
      expect(refreshedClaims.auth_time === claims.auth_time, 'refresh ID token: same auth_time');
    }
    passed('refresh token rotated');
    // The successor is active before anything else happens to the family.
    if (introspector) {
      const at2 = await client.tokenIntrospection(introspector, refreshed.access_token);
      expect(at2.active === true, 'introspection: the refreshed access token is active', at2);
    }
    // The answer was lost: the client retries with the rotated token within the grace window and
    // gets the same successor again.
    const retried = await client.refreshTokenGrant(config, tokens.refresh_token);
    expect(
      retried.refresh_token === refreshed.refresh_token,
      'refresh: a retry within the grace window gets the same successor',
      retried.refresh_token,
    );
    passed('retried refresh answered with the same successor');
    // Once the successor is used, the rotated token is refused.
    const next = await client.refreshTokenGrant(config, refreshed.refresh_token);
    expect(next.refresh_token !== refreshed.refresh_token, 'refresh: the successor rotated');
    let oldRefused = null;
    try {
      await client.refreshTokenGrant(config, tokens.refresh_token);
    } catch (error) {
      oldRefused = oauthError(error);
    }
    expect(oldRefused === 'invalid_grant', 'refresh: the rotated token is refused', oldRefused);
    passed('rotated refresh token refused (invalid_grant)');
    const refreshedUserinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    expect(refreshedUserinfo.sub === claims.sub, 'userinfo with the refreshed access token');
    refresh = {
      access_token: next.access_token,
      refresh_token: next.refresh_token,
      scope: next.scope,
      id_token_claims: refreshedClaims ?? null,
      old_refresh_token: oldRefused,
      retry_same_successor: retried.refresh_token === refreshed.refresh_token,
    };
  }

  step = 'revocation';
  // The newest access token, then the refresh token (which takes its family with it).
  const lastAccess = refresh?.access_token ?? tokens.access_token;
  await client.tokenRevocation(config, lastAccess, { token_type_hint: 'access_token' });
  if (introspector) {
    const after = await client.tokenIntrospection(introspector, lastAccess);
    expect(after.active === false, 'introspection: a revoked access token is inactive', after);
    introspection.access_token_after_revocation = after;
    passed('revoked access token inactive');
  }
  let revokedRefresh = null;
  if (refresh) {
    await client.tokenRevocation(config, refresh.refresh_token, { token_type_hint: 'refresh_token' });
    try {
      await client.refreshTokenGrant(config, refresh.refresh_token);
    } catch (error) {
      revokedRefresh = oauthError(error);
    }
    expect(revokedRefresh === 'invalid_grant', 'refresh: a revoked token is refused', revokedRefresh);
    if (!isPublic && introspector === config) {
      const rt = await client.tokenIntrospection(config, refresh.refresh_token);
      expect(rt.active === false, 'introspection: a revoked refresh token is inactive', rt);
    }
    passed('revoked refresh token refused');
  }

  step = 'end session';
  const logoutState = client.randomState();
  const endSessionUrl = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: cfg.post_logout_redirect_uri,
    state: logoutState,
  });
  r = await browser.get(endSessionUrl);
  const back = new URL(location(r, 'end session'));
  expect(
    `${back.origin}${back.pathname}` === cfg.post_logout_redirect_uri,
    'end session: back to the registered post_logout_redirect_uri',
    back.href,
  );
  expect(back.searchParams.get('state') === logoutState, 'end session: state returned', back.href);
  expect(!browser.cookies.has('authx_session'), 'end session: the session cookie is removed');
  passed('RP-initiated logout redirects back with state');
  // The session is over on the server too: a new authorization request goes to the login page.
  r = await browser.get(
    client.buildAuthorizationUrl(config, {
      redirect_uri: cfg.redirect_uri,
      scope: 'openid',
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      state: client.randomState(),
    }),
  );
  const again = new URL(location(r, 'authorize after logout'), issuer);
  expect(again.pathname === '/login', 'after logout: signed out', again.href);
  passed('signed out after logout');

  return {
    ok: true,
    issuer: server.issuer,
    client_id: cfg.client_id,
    token_endpoint_auth_method: authMethod,
    authorization_response: Object.fromEntries(
      [...callback.searchParams].filter(([k]) => k !== 'code'),
    ),
    token_response: {
      token_type: tokens.token_type,
      scope: tokens.scope,
      expires_in: tokens.expires_in,
      has_refresh_token: typeof tokens.refresh_token === 'string',
    },
    id_token_header: idTokenHeader,
    id_token_claims: claims,
    userinfo,
    introspection,
    refresh,
    revoked_refresh_token: revokedRefresh,
    tokens: {
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token ?? null,
      id_token: tokens.id_token,
    },
    end_session: { redirect: back.href },
    checks,
  };
}

try {
  const result = await run(await readConfig());
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  const detail = {
    step,
    message: error?.message,
    code: error?.code,
    error: error?.error,
    error_description: error?.error_description,
    status: error?.status,
    cause: error?.cause instanceof Error ? error.cause.message : error?.cause,
    detail: error?.detail,
    checks_passed: checks,
  };
  process.stderr.write(
    `openid_client_rp: FAILED at ${step}: ${error?.message}\n${JSON.stringify(detail, null, 2)}\n`,
  );
  process.exit(1);
}
