// A certified OpenID Provider (panva's oidc-provider) for linker's conformance tests.
//
//   node provider.mjs CONFIG_JSON     (run from the directory whose node_modules holds it)
//
// CONFIG_JSON: {"port", "clients": [{client_id, client_secret, redirect_uris,
//   token_endpoint_auth_method}], "accounts": {id: {email, email_verified, name}},
//   "accountForClient": {client_id: account id}, "claimsInIdToken": bool,
//   "connectionForClient": {client_id: connection name}}
//
// Strict by default: with `conformIdTokenClaims` (the provider's default) a code flow's ID
// token carries no scope claims, so `email` and `email_verified` come only from UserInfo
// (OpenID Connect Core 5.4). `claimsInIdToken: true` turns that off. Sign-in and consent are
// answered at once for the account configured per client: the test is about the protocol,
// not about a login page. Prints "listening <issuer>" on stdout when ready.
//
// For a client in `connectionForClient` (linker's own), every ID token names the connection
// used, as linker's Action makes an Auth0 tenant do (`https://linker/connection`).
import crypto from "node:crypto";
import Provider from "oidc-provider";

const config = JSON.parse(process.argv[2]);
const CONNECTION_CLAIM = "https://linker/connection";
// Auth0-style issuer, with the trailing slash linker expects of its tenant.
const issuer = `http://127.0.0.1:${config.port}/`;
const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "conformance-1", use: "sig", alg: "RS256" };

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    ...c,
    grant_types: ["authorization_code"],
    response_types: ["code"],
    id_token_signed_response_alg: "RS256",
  })),
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString("hex")] },
  claims: {
    openid: ["sub", CONNECTION_CLAIM],
    email: ["email", "email_verified"],
    profile: ["name"],
  },
  conformIdTokenClaims: !config.claimsInIdToken,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const profile = config.accounts[id];
    if (!profile) return undefined;
    const connection = (config.connectionForClient || {})[ctx.oidc?.client?.clientId];
    const named = connection ? { [CONNECTION_CLAIM]: { name: connection, strategy: connection } } : {};
    return { accountId: id, claims: async () => ({ sub: id, ...profile, ...named }) };
  },
});

provider.use(async (ctx, next) => {
  const match = ctx.method === "GET" && ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const clientId = details.params.client_id;
  let result;
  if (details.prompt.name === "login") {
    result = { login: { accountId: config.accountForClient[clientId] } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.redirect(to);
});

provider.listen(config.port, "127.0.0.1", () => {
  process.stdout.write(`listening ${issuer}\n`);
});
