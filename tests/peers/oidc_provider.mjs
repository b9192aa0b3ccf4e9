// A real OpenID Connect provider on loopback for authx's tests: panva's oidc-provider (OpenID
// Certified), configured from JSON, with its development login and consent forms so a test can
// log in with plain HTTP requests (no browser).
//
// Usage: node oidc_provider.mjs '<config JSON>'   (or '-' to read the JSON from stdin)
//
// Config:
//   {
//     "clients": [{ "client_id", "client_secret", "redirect_uris": [...],
//                   "token_endpoint_auth_method"?: "client_secret_basic" | "client_secret_post",
//                   "id_token_signed_response_alg"?: "RS256" | "PS256" | "ES256" | "EdDSA" }],
//     "accounts": [{ "sub": "...", "email"?, "email_verified"?, "name"?, "given_name"?,
//                    "family_name"?, "picture"?, "hd"? }],
//     "conform_id_token_claims"?: true,   // false: profile/email claims in the id_token too
//     "client_auth_methods"?: [...]       // what discovery advertises for the token endpoint
//   }
//
// The provider binds 127.0.0.1 on a free port and prints its issuer URL as the first line of
// stdout (warnings go to stderr). Log in at the development form with the account's `sub` as
// the login (any password). It exits when stdin closes (its parent test went away), on SIGTERM,
// or after ten minutes at most, so no test can leave it running.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

// stdout carries exactly one line, the issuer; the provider's notices go to stderr.
console.info = console.error;
console.log = console.error;

async function readConfig() {
  const arg = process.argv[2];
  if (arg && arg !== '-') return JSON.parse(arg);
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

// Signing keys of every family a client may ask for, fresh per run; `kid`s name the family.
function signingKeys() {
  const jwk = (pair, kid, alg) => ({ ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });
  return [
    jwk(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'rsa-rs256', 'RS256'),
    jwk(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'rsa-ps256', 'PS256'),
    jwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ec-p256', 'ES256'),
    jwk(generateKeyPairSync('ed25519'), 'okp-ed25519', 'EdDSA'),
  ];
}

const config = await readConfig();
const accounts = new Map((config.accounts ?? []).map((account) => [account.sub, account]));

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  clientAuthMethods: config.client_auth_methods ?? ['client_secret_basic', 'client_secret_post'],
  jwks: { keys: signingKeys() },
  // Like Google: `hd` belongs to the `openid` scope, so it is in every id_token.
  claims: {
    openid: ['sub', 'hd'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'picture'],
  },
  conformIdTokenClaims: config.conform_id_token_claims ?? true,
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
  },
  // PKCE is required for every client, so a wrong verifier really fails the exchange.
  pkce: { required: () => true },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  async findAccount(ctx, id) {
    const account = accounts.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { ...account, sub: id };
      },
    };
  },
});

server.on('request', provider.callback());

const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.argv[2] && process.argv[2] !== '-') {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
setTimeout(stop, 10 * 60 * 1000).unref();

process.stdout.write(`${issuer}\n`);
