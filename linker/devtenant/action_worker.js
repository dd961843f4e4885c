"use strict";
/**
 * The dev tenant's Action runtime: runs a post-login Action file the way Auth0 does.
 *
 * One long-lived process per tenant. Requests and answers are JSON lines on stdin/stdout,
 * matched by `id`, so concurrent logins interleave freely:
 *
 *   -> {"id": 1, "trigger": "onExecutePostLogin", "event": {...},
 *       "context": {"now": 1700000000, "issuer": "127.0.0.1:8700", "continueState": null,
 *                   "canRedirect": true}}
 *   <- {"id": 1, "ok": true, "outcome": {"deny": null, "redirect": {"url", "query"} | null,
 *       "idToken": {...}, "accessToken": {...}, "thrown": null | "message",
 *       "userMetadata": {...}, "appMetadata": {...}, "recordedMethods": ["https://..."],
 *       "challenge": null | {"kind": "challengeWith" | ..., "factors": [...]},
 *       "primaryUser": null | "provider|id"}}
 *
 * The `api` object follows Auth0's post-login API reference
 * (https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-api-object):
 * access, idToken, accessToken, redirect (canRedirect, encodeToken, validateToken, sendUserTo),
 * user (setUserMetadata, setAppMetadata: applied by the tenant after the Action, in one update),
 * authentication (recordMethod in onContinuePostLogin; challengeWith / challengeWithAny /
 * enrollWith / enrollWithAny are recorded and the tenant decides; setPrimaryUser, once per
 * transaction, and the tenant switches the login's user), and cache (get, set,
 * delete; kept by this worker across executions, expiring on the tenant's clock).
 *
 * Time and the tenant's name come from the tenant in `context`, so its injectable clock
 * governs token expiry here too. The Action's console output goes to stderr: stdout carries
 * the protocol.
 */
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const util = require("node:util");

const actionPath = path.resolve(process.argv[2]);
const writeLine = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

for (const name of ["log", "info", "warn", "error", "debug"]) {
  console[name] = (...args) => process.stderr.write(`[action] ${util.format(...args)}\n`);
}

// Reload the Action when its file changes, so `linker demo` picks up edits without a restart.
let loaded = null;
let loadedMtime = null;
function loadAction() {
  const mtime = fs.statSync(actionPath).mtimeMs;
  if (loaded === null || mtime !== loadedMtime) {
    delete require.cache[require.resolve(actionPath)];
    loaded = require(actionPath);
    loadedMtime = mtime;
  }
  return loaded;
}

const b64url = (data) => Buffer.from(data).toString("base64url");
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function hs256(secret, signingInput) {
  return b64url(crypto.createHmac("sha256", secret).update(signingInput).digest());
}

// api.redirect.encodeToken: Auth0's own claims win over the payload's.
function encodeToken(ctx, event, options) {
  const { secret, payload, expiresInSeconds } = options || {};
  if (typeof secret !== "string" || secret === "") {
    throw new Error("encodeToken: a secret is required");
  }
  const claims = {
    ...(payload || {}),
    sub: event.user.user_id,
    iss: ctx.issuer,
    iat: ctx.now,
    exp: ctx.now + (expiresInSeconds ?? 900),
    ip: event.request.ip,
  };
  const input = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" })) + "." + b64url(JSON.stringify(claims));
  return input + "." + hs256(secret, input);
}

// api.redirect.validateToken: HS256 only, signature, claims, expiry, and the /continue state.
function validateToken(ctx, event, options) {
  const { secret, tokenParameterName = "session_token" } = options || {};
  if (ctx.continueState === null) {
    throw new Error("validateToken is only available in onContinuePostLogin");
  }
  if (typeof secret !== "string" || secret === "") {
    throw new Error("validateToken: a secret is required");
  }
  const token =
    (event.request.body || {})[tokenParameterName] ?? (event.request.query || {})[tokenParameterName];
  if (typeof token !== "string" || token === "") {
    throw new Error(`the ${tokenParameterName} parameter is missing`);
  }
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) {
    throw new Error("the token is not a JWT");
  }
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    throw new Error("the token is not a JWT");
  }
  if (header === null || header.alg !== "HS256") {
    throw new Error(`unsupported token algorithm: ${header && header.alg}`);
  }
  const expected = Buffer.from(hs256(secret, parts[0] + "." + parts[1]));
  const given = Buffer.from(parts[2]);
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new Error("invalid token signature");
  }
  if (claims === null || typeof claims !== "object") throw new Error("the token has no claims");
  for (const name of ["sub", "iss", "iat", "exp", "state"]) {
    if (claims[name] === undefined || claims[name] === null) {
      throw new Error(`the token has no ${name} claim`);
    }
  }
  if (typeof claims.iat !== "number" || typeof claims.exp !== "number") {
    throw new Error("iat and exp must be numbers");
  }
  if (claims.exp <= ctx.now) throw new Error("the token has expired");
  if (claims.exp - claims.iat < 60) {
    throw new Error("the token's exp must be at least 60 seconds after its iat");
  }
  if (claims.state !== ctx.continueState) {
    throw new Error("the token's state does not match the transaction");
  }
  return claims;
}

// api.cache: one store for the Action, across executions, as Auth0 keeps it per Action.
// Values are strings; a record lives `ttl` ms (default: 15 minutes, the dev tenant's choice)
// or until `expires_at` (ms since the epoch), measured on the tenant's clock.
const CACHE_DEFAULT_TTL_MS = 15 * 60 * 1000;
const cache = new Map();

function makeCache(ctx) {
  const nowMs = () => ctx.now * 1000;
  const live = (key) => {
    const record = cache.get(String(key));
    if (record === undefined) return undefined;
    if (record.expires_at <= nowMs()) {
      cache.delete(String(key));
      return undefined;
    }
    return record;
  };
  return {
    get: (key) => {
      const record = live(key);
      return record === undefined ? undefined : { value: record.value, expires_at: record.expires_at };
    },
    set: (key, value, options) => {
      if (typeof key !== "string" || key === "" || typeof value !== "string") {
        return { type: "error", code: "invalid_argument" };
      }
      const { ttl, expires_at: expiresAt } = options || {};
      const expires = typeof expiresAt === "number" ? expiresAt : nowMs() + (ttl ?? CACHE_DEFAULT_TTL_MS);
      const record = { value, expires_at: expires };
      cache.set(key, record);
      return { type: "success", record: { ...record } };
    },
    delete: (key) => {
      cache.delete(String(key));
      return { type: "success" };
    },
  };
}

function makeApi(ctx, event, outcome, trigger) {
  const challenge = (kind) => (...factors) => {
    outcome.challenge = { kind, factors: factors.flat().filter((f) => f !== undefined) };
    return api;
  };
  const api = {
    access: {
      deny: (reason) => {
        outcome.deny = String(reason ?? "");
        return api;
      },
    },
    idToken: {
      setCustomClaim: (name, value) => {
        outcome.idToken[name] = value;
        return api;
      },
    },
    accessToken: {
      setCustomClaim: (name, value) => {
        outcome.accessToken[name] = value;
        return api;
      },
    },
    user: {
      setUserMetadata: (name, value) => {
        outcome.userMetadata[String(name)] = value === undefined ? null : value;
        return api;
      },
      setAppMetadata: (name, value) => {
        outcome.appMetadata[String(name)] = value === undefined ? null : value;
        return api;
      },
    },
    authentication: {
      recordMethod: (providerUrl) => {
        if (trigger !== "onContinuePostLogin") {
          throw new Error("recordMethod is only available in onContinuePostLogin");
        }
        outcome.recordedMethods.push(String(providerUrl));
        return api;
      },
      challengeWith: challenge("challengeWith"),
      challengeWithAny: challenge("challengeWithAny"),
      enrollWith: challenge("enrollWith"),
      enrollWithAny: challenge("enrollWithAny"),
      // Once per transaction; the tenant checks that the login's identity is among the
      // primary's identities when it applies it (post-login API object, setPrimaryUser).
      setPrimaryUser: (primaryUserId) => {
        if (typeof primaryUserId !== "string" || primaryUserId === "") {
          throw new Error("setPrimaryUser: a user id is required");
        }
        if (outcome.primaryUser !== null || ctx.primaryUserSet) {
          throw new Error("setPrimaryUser can only be called once per transaction");
        }
        outcome.primaryUser = primaryUserId;
        return api;
      },
    },
    cache: makeCache(ctx),
    redirect: {
      canRedirect: () => ctx.canRedirect !== false,
      encodeToken: (options) => encodeToken(ctx, event, options),
      validateToken: (options) => validateToken(ctx, event, options),
      sendUserTo: (url, options) => {
        outcome.redirect = { url: String(url), query: { ...((options && options.query) || {}) } };
        return api;
      },
    },
  };
  return api;
}

async function handle(message) {
  const outcome = {
    deny: null,
    redirect: null,
    idToken: {},
    accessToken: {},
    thrown: null,
    userMetadata: {},
    appMetadata: {},
    recordedMethods: [],
    challenge: null,
    primaryUser: null,
  };
  try {
    const action = loadAction();
    const handler = action[message.trigger];
    // An Action without this trigger's handler simply lets the login continue.
    if (typeof handler === "function") {
      const event = message.event;
      await handler(event, makeApi(message.context, event, outcome, message.trigger));
    }
  } catch (err) {
    outcome.thrown = err instanceof Error ? err.message : String(err);
    process.stderr.write(`[action] ${message.trigger} threw: ${err && err.stack ? err.stack : err}\n`);
  }
  return outcome;
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  let message;
  try {
    message = JSON.parse(line);
  } catch (err) {
    writeLine({ id: null, ok: false, error: `bad request line: ${err.message}` });
    return;
  }
  handle(message).then(
    (outcome) => writeLine({ id: message.id, ok: true, outcome }),
    (err) => writeLine({ id: message.id, ok: false, error: String(err) }),
  );
});
// The tenant closes stdin on shutdown: Node exits by itself once running Actions finish.

if (!fs.existsSync(actionPath)) {
  process.stderr.write(`action file not found: ${actionPath}\n`);
  process.exit(2);
}
