/**
 * linker shim: a post-login Action that hands account linking to the linker service.
 *
 * The Action holds no logic worth testing on its own: it decides whether this login asks
 * for a link or an unlink, sends the user to linker with a short-lived signed start token,
 * and, when linker sends the user back to /continue, lets the login finish or denies it.
 * Secrets: LINKER_URL, LINKER_ACTION_SECRET, LINKER_CLIENT_ID, and while rolling the
 * secret, LINKER_ACTION_SECRET_PREVIOUS. No npm dependencies.
 */

// Redirects are impossible (and Auth0 refuses them) outside an interactive browser login.
const NON_INTERACTIVE_PROTOCOLS = new Set([
  "oauth2-refresh-token",
  "oauth2-resource-owner",
  "oauth2-resource-owner-jwt-bearer",
  "oauth2-password",
  "oauth2-client-credentials",
  "oauth2-token-exchange",
  "oauth2-device-code",
  "oauth2-ciba",
  // Also documented for post-login (event.transaction.protocol), and no browser either.
  "oauth2-access-token",
  "wstrust-usernamemixed",
]);

// Statuses after which the login continues; anything else denies it.
const SUCCESS_STATUSES = new Set(["linked", "unlinked", "already_linked"]);

function requestedScopes(event) {
  const scopes = event.transaction && event.transaction.requested_scopes;
  if (Array.isArray(scopes)) return scopes;
  const raw = (event.request.query && event.request.query.scope) || "";
  return raw.split(" ").filter(Boolean);
}

function isInteractive(event) {
  const protocol = event.transaction && event.transaction.protocol;
  if (NON_INTERACTIVE_PROTOCOLS.has(protocol)) return false;
  return !(event.request.query && event.request.query.prompt === "none");
}

function linkAction(scopes) {
  const link = scopes.includes("link_account");
  const unlink = scopes.includes("unlink_account");
  if (link && unlink) return "invalid"; // linker denies it with a clear error
  if (link) return "link";
  if (unlink) return "unlink";
  return null;
}

exports.onExecutePostLogin = async (event, api) => {
  const action = linkAction(requestedScopes(event));
  if (action === null || !isInteractive(event)) return;
  // The nested login that linker starts for the secondary account comes through here too.
  if (event.client.client_id === event.secrets.LINKER_CLIENT_ID) return;

  const query = event.request.query || {};
  const user = event.user;
  const payload = {
    linker_v: 1,
    action,
    client_id: event.client.client_id,
    requested_connection: query.requested_connection,
    requested_connection_scope:
      query.requested_connection_scope ?? query.requested_connection_scopes,
    requested_identity: query.requested_identity,
    id_token_hint: query.id_token_hint,
    user: {
      email: user.email,
      email_verified: user.email_verified,
      identities: (user.identities || []).map((identity) => ({
        provider: identity.provider,
        user_id: identity.user_id,
        connection: identity.connection,
        isSocial: identity.isSocial,
      })),
    },
    authentication_methods: ((event.authentication && event.authentication.methods) || []).map(
      (method) => method.name,
    ),
    enrolled_factors: (user.enrolledFactors || []).map((factor) => factor.type),
    session_id: event.session && event.session.id,
    transaction_id: event.transaction && event.transaction.id,
  };
  // Absent values are left out rather than sent as null: linker tells "missing" from "empty".
  for (const key of Object.keys(payload)) {
    if (payload[key] === undefined || payload[key] === null) delete payload[key];
  }

  // Auth0 adds sub, iss, iat, exp and ip, and appends its own state to the URL.
  const sessionToken = api.redirect.encodeToken({
    secret: event.secrets.LINKER_ACTION_SECRET,
    expiresInSeconds: 300,
    payload,
  });
  api.redirect.sendUserTo(event.secrets.LINKER_URL + "/link/start", {
    query: { session_token: sessionToken },
  });
};

// Checks the HS256 signature, expiry, and that the token's state is this transaction's.
// While the secret is being rolled, linker may still sign with the previous one.
function validateResult(event, api) {
  const secrets = [event.secrets.LINKER_ACTION_SECRET, event.secrets.LINKER_ACTION_SECRET_PREVIOUS];
  let failure;
  for (const secret of secrets.filter(Boolean)) {
    try {
      return api.redirect.validateToken({ secret, tokenParameterName: "session_token" });
    } catch (err) {
      failure = err;
    }
  }
  throw failure;
}

exports.onContinuePostLogin = async (event, api) => {
  let claims;
  try {
    claims = validateResult(event, api);
  } catch (err) {
    api.access.deny("invalid_session_token: " + err.message);
    return;
  }
  // A valid token for someone else must never finish this user's login.
  if (claims.sub !== event.user.user_id) {
    api.access.deny("invalid_session_token: the token was issued for another user");
    return;
  }
  const result = claims.result || {};
  if (SUCCESS_STATUSES.has(result.status)) {
    api.idToken.setCustomClaim("https://linker/link_result", {
      status: result.status,
      identity: result.identity ?? null,
    });
    return;
  }
  api.access.deny(
    (result.error || "failed") + ": " + (result.error_description || "account linking failed"),
  );
};
