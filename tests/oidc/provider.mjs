// An OpenID Connect provider for the sign-in tests: the certified `oidc-provider` package, with its
// development login page (any name and password sign in; the name is taken as the email address).
//
//   node provider.mjs CONFIG.json
//
// CONFIG holds the port, the issuer, the clients (client_id, client_secret, redirect_uris and an
// optional `mode`), the signing keys (private JWKs; the first signs) and `unknown_key`, a key that is
// never published. The key set is fixed for the life of the process: a test rotates keys by starting
// the provider again with a new set.
//
// A client's `mode` makes the provider misbehave for that client only, after the real token endpoint
// has answered: its ID token is signed again (with the provider's own key unless said otherwise) with
//   "wrong-audience"  an audience that is some other client's,
//   "expired"         an expiry an hour ago,
//   "unknown-key"     the unpublished key,
//   "mfa"             amr ["pwd", "mfa"], as a provider that asked for a second factor says.
// The subject (sub) is the name signed in with, as typed. Addresses whose local part contains
// "unverified" come with email_verified false.

import { readFileSync } from 'node:fs';

import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function titleCase(word) {
  return word ? word[0].toUpperCase() + word.slice(1) : '';
}

function claimsOf(login) {
  const email = String(login).trim().toLowerCase();
  const [first = '', last = ''] = email.split('@')[0].replace(/unverified/g, '').split('.').filter(Boolean);
  return {
    email,
    email_verified: !email.split('@')[0].includes('unverified'),
    given_name: titleCase(first),
    family_name: titleCase(last),
  };
}

const modes = Object.fromEntries(config.clients.map((c) => [c.client_id, c.mode || '']));

const provider = new Provider(config.issuer, {
  clients: config.clients.map(({ mode, ...client }) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: config.keys },
  cookies: { keys: ['test-provider-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name'],
  },
  // The ID token carries the email and names, as Entra ID and Google put them there.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return claimsOf(id); } };
  },
  // First-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});

async function signAgain(idToken, mode) {
  const claims = decodeJwt(idToken);
  const header = decodeProtectedHeader(idToken);
  let jwk = config.keys.find((k) => k.kid === header.kid);
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'wrong-audience') claims.aud = 'some-other-client';
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  if (mode === 'unknown-key') jwk = config.unknown_key;
  if (mode === 'mfa') claims.amr = ['pwd', 'mfa'];
  const key = await importJWK(jwk, header.alg);
  return new SignJWT(claims).setProtectedHeader({ alg: header.alg, kid: jwk.kid, typ: 'JWT' }).sign(key);
}

provider.use(async (ctx, next) => {
  await next();
  const mode = ctx.oidc?.client && modes[ctx.oidc.client.clientId];
  if (ctx.path === '/token' && ctx.status === 200 && mode && ctx.body?.id_token) {
    ctx.body = { ...ctx.body, id_token: await signAgain(ctx.body.id_token, mode) };
  }
});

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${config.issuer}\n`);
});
