/**
 * linker shim: a post-login Action that hands account linking to the linker service.
 *
 * Protocol version 2. The Action decides whether this login asks for a link or an unlink and
 * sends the user to linker with a short-lived, single-use start token. linker verifies the
 * request and the second sign-in, and sends the user back to /continue with a *pending*
 * result. Only then, inside this login (which the tenant resumes only in the browser that
 * holds it), does the Action confirm the attempt with POST /link/commit; linker writes the
 * link and answers the final result, and the Action lets the login finish or denies it.
 * Secrets: LINKER_URL, LINKER_ACTION_SECRET, LINKER_CLIENT_ID, and while rolling the
 * secret, LINKER_ACTION_SECRET_PREVIOUS. No npm dependencies.
 *
 * Suggested linking (LINKER_SUGGEST = off | suggest | require, LINKER_SUGGEST_INTERVAL in
 * seconds): a login that asks for no link, by a user with a verified email, goes to linker's
 * /link/suggest, which offers to link an older account with the same verified email. The
 * user proves control of it with a nested login; the current account is linked into the
 * older one, and this login ends as that older user (api.authentication.setPrimaryUser).
 * A user with nothing to offer, or who said "Not now", is not sent again for the interval
 * (app_metadata.linker_suggest.checked_at / declined_at).
 */
const crypto = require("node:crypto");

const PROTOCOL_VERSION = 2;
const COMMIT_TIMEOUT_MS = 15000;
const DESCRIPTION_LIMIT = 200;

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

// The statuses that let the login continue, for the action the login asked for.
const SUCCESS_STATUSES = {
  link: new Set(["linked", "already_linked"]),
  unlink: new Set(["unlinked"]),
};

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

const SUGGEST_MODES = new Set(["suggest", "require"]);
const DEFAULT_SUGGEST_INTERVAL = 7 * 24 * 3600;

function suggestMode(event) {
  const mode = event.secrets.LINKER_SUGGEST;
  return SUGGEST_MODES.has(mode) ? mode : null;
}

function suggestInterval(event) {
  const seconds = Number(event.secrets.LINKER_SUGGEST_INTERVAL);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : DEFAULT_SUGGEST_INTERVAL;
}

const SUGGEST_KEY = "linker_suggest";

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

function suggestMemory(user) {
  const kept = user.app_metadata && user.app_metadata[SUGGEST_KEY];
  return kept !== null && typeof kept === "object" ? kept : {};
}

// `at` (UNIX seconds, from app_metadata) is less than the interval old.
function withinInterval(event, at) {
  const seconds = Number(at);
  return Number.isFinite(seconds) && nowSeconds() - seconds < suggestInterval(event);
}

// Offer a link at this login? A verified email, one identity, not looked up with nothing found
// within the interval (so that a busy tenant's every login does not cost a lookup), and, unless
// required, not refused within it.
function shouldSuggest(event, mode) {
  const user = event.user;
  if (user.email_verified !== true || (user.identities || []).length !== 1) return false;
  const memory = suggestMemory(user);
  if (withinInterval(event, memory.checked_at)) return false;
  if (mode === "require") return true;
  return !withinInterval(event, memory.declined_at);
}

function linkAction(scopes) {
  const link = scopes.includes("link_account");
  const unlink = scopes.includes("unlink_account");
  if (link && unlink) return "invalid"; // linker denies it with a clear error
  if (link) return "link";
  if (unlink) return "unlink";
  return null;
}

// Put into the ID token of linker's own nested login: the connection that was actually used.
// The nested /authorize goes through the browser, which could rewrite its connection=; linker
// requires this claim to name the connection it asked for.
const CONNECTION_CLAIM = "https://linker/connection";

exports.onExecutePostLogin = async (event, api) => {
  if (event.client.client_id === event.secrets.LINKER_CLIENT_ID) {
    const connection = event.connection || {};
    api.idToken.setCustomClaim(CONNECTION_CLAIM, {
      name: connection.name,
      strategy: connection.strategy,
    });
    return;
  }
  let action = linkAction(requestedScopes(event));
  const mode = suggestMode(event);
  if (action === null && mode !== null && shouldSuggest(event, mode)) action = "suggest";
  if (action === null || !isInteractive(event)) return;

  const query = event.request.query || {};
  const user = event.user;
  const payload = {
    linker_v: PROTOCOL_VERSION,
    jti: crypto.randomUUID(), // linker accepts each start token once
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
    suggest: action === "suggest" ? mode : undefined,
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
  const route = action === "suggest" ? "/link/suggest" : "/link/start";
  api.redirect.sendUserTo(event.secrets.LINKER_URL + route, {
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

const b64url = (data) => Buffer.from(data).toString("base64url");

// The commit token: HS256 over the primary's profile as the tenant holds it right now.
function commitToken(event, commit) {
  const iat = Math.floor(Date.now() / 1000);
  const user = event.user;
  const claims = {
    aud: "linker:commit",
    sub: user.user_id,
    commit,
    iat,
    exp: iat + 60,
    jti: crypto.randomUUID(),
    linker_v: PROTOCOL_VERSION,
    user: {
      identities: user.identities || [],
      user_metadata: user.user_metadata || {},
      app_metadata: user.app_metadata || {},
    },
  };
  const input = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" })) + "." + b64url(JSON.stringify(claims));
  const signature = crypto.createHmac("sha256", event.secrets.LINKER_ACTION_SECRET).update(input).digest();
  return input + "." + b64url(signature);
}

const UNAVAILABLE = {
  status: "failed",
  error: "upstream_unavailable",
  error_description: "linker did not confirm the link; nothing was changed. Please try again.",
};

// Asks linker to write the prepared link; any answer but a 200 with a result is a failure.
async function commitResult(event, commit) {
  try {
    const response = await fetch(event.secrets.LINKER_URL + "/link/commit", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ commit_token: commitToken(event, commit) }),
      signal: AbortSignal.timeout(COMMIT_TIMEOUT_MS),
    });
    if (response.status !== 200) return UNAVAILABLE;
    const result = await response.json();
    return result && typeof result.status === "string" ? result : UNAVAILABLE;
  } catch (err) {
    return UNAVAILABLE;
  }
}

// RFC 6749 allows %x20-21 / %x23-5B / %x5D-7E in error_description: anything else is a space.
function describe(text) {
  return String(text).slice(0, DESCRIPTION_LIMIT).replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, " ");
}

function deny(api, code, description) {
  api.access.deny(code + ": " + describe(description));
}

// A result that cannot be trusted (expired, for someone else, from elsewhere) applies
// nothing. A login that asked for a link is denied; a suggestion in suggest mode, which the
// user never asked for, lets the login continue as the user who signed in: it never locks
// anybody out (docs/protocol.md section 8).
function untrusted(event, api, description) {
  if (linkAction(requestedScopes(event)) === null && suggestMode(event) === "suggest") {
    api.idToken.setCustomClaim("https://linker/link_result", {
      status: "failed",
      error: "invalid_session_token",
    });
    return;
  }
  deny(api, "invalid_session_token", description);
}

exports.onContinuePostLogin = async (event, api) => {
  let claims;
  try {
    claims = validateResult(event, api);
  } catch (err) {
    untrusted(event, api, err.message);
    return;
  }
  // A valid token for someone else, from elsewhere, or of another version never finishes a login.
  if (claims.sub !== event.user.user_id) {
    untrusted(event, api, "the token was issued for another user");
    return;
  }
  if (claims.iss !== event.secrets.LINKER_URL || claims.linker_v !== PROTOCOL_VERSION) {
    untrusted(event, api, "the token was not issued by this linker (protocol v2)");
    return;
  }
  let result = claims.result || {};
  if (result.status === "pending") {
    if (typeof claims.commit !== "string" || claims.commit === "") {
      deny(api, "invalid_session_token", "the pending result names nothing to commit");
      return;
    }
    result = await commitResult(event, claims.commit);
  }
  const action = linkAction(requestedScopes(event));
  if (action === null) {
    finishSuggestion(event, api, claims.sub, result);
    return;
  }
  const accepted = SUCCESS_STATUSES[action];
  if (accepted && accepted.has(result.status)) {
    api.idToken.setCustomClaim("https://linker/link_result", {
      status: result.status,
      identity: result.identity ?? null,
    });
    return;
  }
  if (["linked", "unlinked", "already_linked"].includes(result.status)) {
    // A success that answers another question than the one this login asked.
    deny(api, "invalid_session_token", "the result does not answer this login's request");
    return;
  }
  deny(api, result.error || "failed", result.error_description || "account linking failed");
};

// The statuses of a suggestion that let the login continue.
const SUGGEST_STATUSES = new Set(["linked", "already_linked", "skipped", "declined"]);

// A suggestion's final result: the login ends as the surviving (older) user after a link; a
// refusal or a failure denies it in require mode and lets it continue in suggest mode.
function finishSuggestion(event, api, sub, result) {
  if (result.status === "skipped") {
    // Nothing older to offer: remembered, with what was there, until the interval has passed.
    const memory = { ...suggestMemory(event.user), checked_at: nowSeconds() };
    api.user.setAppMetadata(SUGGEST_KEY, memory);
  }
  if (SUGGEST_STATUSES.has(result.status)) {
    const primary = result.primary;
    if (typeof primary === "string" && primary !== "" && primary !== sub) {
      api.authentication.setPrimaryUser(primary);
    }
    api.idToken.setCustomClaim("https://linker/link_result", {
      status: result.status,
      identity: result.identity ?? null,
      primary: typeof primary === "string" ? primary : null,
    });
    return;
  }
  if (suggestMode(event) === "require") {
    deny(api, result.error || "failed", result.error_description || "account linking failed");
    return;
  }
  api.idToken.setCustomClaim("https://linker/link_result", {
    status: result.status || "failed",
    error: result.error || null,
  });
}
