// The single-page sample's script: plain JavaScript on the unmodified auth0-spa-js bundle
// (window.auth0). Everything shown goes through textContent, never innerHTML.
"use strict";

const RESULT_CLAIM = "https://linker/link_result";
const LINK_BUTTONS = [["github", "Link GitHub"], ["windowslive", "Link Microsoft"]];
const NAMES = { github: "GitHub", "google-oauth2": "Google", windowslive: "Microsoft" };
const PREVIOUS_USER = "demo-spa.previous-user"; // sessionStorage: kept across a sign-out
const LAST_RESULT = "demo-spa.last-link-result";

const settings = JSON.parse(document.getElementById("spa-settings").textContent);
const $ = (id) => document.getElementById(id);
let client;
let explanations = {};

function notice(kind, title, what, next, code) {
  const box = $("notice");
  box.className = kind === "ok" ? "note" : "note " + kind;
  box.dataset.kind = kind;
  $("notice-title").textContent = title;
  $("notice-what").textContent = what || "";
  const nextLine = $("notice-next");
  nextLine.replaceChildren();
  if (next) {
    const label = document.createElement("b");
    label.textContent = "What to do next: ";
    nextLine.append(label, next);
  }
  if (code) {
    const small = document.createElement("span");
    small.className = "code";
    small.textContent = " (code " + code + ")";
    nextLine.appendChild(small);
  }
  box.hidden = false;
}

// A result is shown once: the next action (or a reload) starts without the old banner.
function clearNotice() {
  $("notice").hidden = true;
}

function explain(action, error, description, connection) {
  const sep = (description || "").indexOf(": ");
  const given = sep > 0 && /^[a-z_]+$/.test(description.slice(0, sep)) ? description.slice(0, sep) : "";
  const text = given ? description.slice(sep + 2) : description || error;
  // A refusal the SDK makes itself (a closed popup is error "cancelled", "Popup closed").
  const code = given || (Object.hasOwn(explanations, error || "") ? error : "");
  const account = NAMES[connection] || connection || "the other";
  const byAction = explanations[code] || {};
  const found = byAction[action] || byAction["*"];
  if (found) {
    const fill = (s) => s.split("{account}").join(account);
    return { title: fill(found.title), what: fill(found.what), next: fill(found.next), code };
  }
  const label = { link: "Link", unlink: "Unlink", login: "Sign-in" }[action] || "Request";
  return {
    title: label + " refused",
    what: text,
    next: "Try again; if it keeps failing, the code shown here tells an operator where to look.",
    code: code || error,
  };
}

function describeIdentity(identity) {
  if (!identity) return "";
  return (NAMES[identity.connection] || identity.connection) + " (" + identity.provider + "|" + identity.user_id + ")";
}

async function callApi(fresh) {
  // cacheMode "off" uses the refresh token (which rotates) for a brand-new access token.
  const token = await client.getTokenSilently(fresh ? { cacheMode: "off" } : {});
  const response = await fetch("/api/me", { headers: { Authorization: "Bearer " + token } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error_description || "the API refused the token");
  return body;
}

function showApi(body, subBefore) {
  const out = $("api-result");
  out.replaceChildren();
  const line = document.createElement("p");
  line.id = "api-sub";
  line.textContent = "The API sees sub " + body.sub + "; its record for this user was created "
    + body.record.first_seen + " and has served " + body.record.calls + " call(s). Token issued "
    + body.token.issued_at + ".";
  out.appendChild(line);
  if (subBefore) {
    const same = document.createElement("p");
    same.id = "api-stable";
    same.className = subBefore === body.sub ? "note" : "note bad";
    same.textContent = subBefore === body.sub
      ? "Before the link the API saw sub " + subBefore + ", and with a new access token after it, "
        + "the same sub and the same record: linking did not change who the user is."
      : "The sub changed from " + subBefore + " to " + body.sub + ".";
    out.appendChild(same);
  }
}

async function freshHint() {
  // linker accepts an ID token as the hint only while it is young: refresh an old one first.
  let claims = await client.getIdTokenClaims();
  if (Date.now() / 1000 - claims.iat > settings.hintRefreshAfter) {
    await client.getTokenSilently({ cacheMode: "off" });
    claims = await client.getIdTokenClaims();
  }
  return claims;
}

async function link(connection, hintOverride) {
  clearNotice();
  const claims = await freshHint();
  let subBefore = claims.sub;
  try { subBefore = (await callApi(false)).sub; } catch (e) { /* the claim's sub will do */ }
  await client.loginWithRedirect({
    authorizationParams: {
      scope: "openid profile email link_account",
      requested_connection: connection,
      id_token_hint: hintOverride || claims.__raw,
    },
    appState: { action: "link", connection, subBefore, forged: Boolean(hintOverride) },
  });
}

async function linkInPopup(connection) {
  // Opened during the click, before anything is awaited: a popup opened after an await may
  // have lost the click's user activation, and the browser blocks it.
  const popup = window.open("", "auth0:authorize:popup", "width=480,height=680");
  clearNotice();
  const claims = await freshHint();
  try {
    await client.loginWithPopup({
      authorizationParams: {
        scope: "openid profile email link_account",
        requested_connection: connection,
        id_token_hint: claims.__raw,
      },
    }, { popup });
  } catch (e) {
    if (!e.error) throw e;
    const why = explain("link", e.error, e.error_description || e.message, connection);
    notice(why.code === "cancelled" || e.error === "cancelled" ? "info" : "bad",
      why.title, why.what, why.next, why.code);
    return;
  }
  const result = (await client.getIdTokenClaims())[RESULT_CLAIM] || null;
  showLinkResult(result);
  $("claim").textContent = JSON.stringify(result, null, 2);
  await showIdentities();
  showApi(await callApi(true), claims.sub);
}

async function unlink(identity) {
  clearNotice();
  const claims = await freshHint();
  await client.loginWithRedirect({
    authorizationParams: {
      scope: "openid profile email unlink_account",
      requested_connection: identity.connection,
      requested_identity: identity.provider + "|" + identity.user_id,
      id_token_hint: claims.__raw,
    },
    appState: { action: "unlink", connection: identity.connection, subBefore: claims.sub },
  });
}

async function finishRedirect() {
  let appState = {};
  try {
    appState = (await client.handleRedirectCallback()).appState || {};
  } catch (e) {
    if (!e.error) throw e;
    const state = e.appState || {};
    const action = state.action || "login";
    const why = explain(action, e.error, e.error_description, state.connection);
    // Cancelling is the user's own choice: told plainly, not as a refusal.
    notice(why.code === "cancelled" ? "info" : "bad", why.title, why.what, why.next, why.code);
    return null;
  }
  const action = appState.action || "login";
  if (action === "login") {
    notice("info", "Signed in", "The SDK redeemed the code for an ID token, an access token for "
      + "this app's API, and a refresh token that rotates on each use.", "");
    return null;
  }
  const claims = await client.getIdTokenClaims();
  showLinkResult(claims[RESULT_CLAIM] || null);
  return appState.subBefore || null;
}

function showLinkResult(result) {
  sessionStorage.setItem(LAST_RESULT, JSON.stringify(result));
  const who = describeIdentity(result && result.identity);
  if (result && result.status === "linked") {
    notice("ok", "Linked: " + who, "linker checked the account you signed in to, the tenant "
      + "resumed your login at /continue in this browser, and only then was the link written. "
      + "The new ID token says so in " + RESULT_CLAIM + ".", "");
  } else if (result && result.status === "already_linked") {
    notice("ok", "Already linked: " + who, "That account was linked before; nothing changed.", "");
  } else if (result && result.status === "unlinked") {
    notice("ok", "Unlinked: " + who, "You confirmed it was you, and linker removed the account; it "
      + "is a user of its own again.", "");
  } else {
    notice("bad", "No link result", "The ID token carries no " + RESULT_CLAIM + " claim: is the "
      + "linker Action deployed on the tenant?", "Check the tenant's post-login Action.");
  }
}

async function showIdentities() {
  const token = await client.getTokenSilently();
  const response = await fetch("/api/identities", { headers: { Authorization: "Bearer " + token } });
  const body = await response.json();
  const rows = $("identities").querySelector("tbody");
  rows.replaceChildren();
  if (!response.ok) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 3;
    cell.className = "muted";
    cell.textContent = "The API could not list your identities: "
      + (body.error_description || body.error || response.status);
    row.appendChild(cell);
    rows.appendChild(row);
    return;
  }
  body.identities.forEach((identity, index) => {
    const row = document.createElement("tr");
    for (const text of [identity.connection, identity.user_id]) {
      const cell = document.createElement("td");
      const code = document.createElement("code");
      code.textContent = text;
      cell.appendChild(code);
      row.appendChild(cell);
    }
    const action = document.createElement("td");
    if (index === 0) {
      action.className = "muted";
      action.textContent = "primary (its id is your sub)";
    } else {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "quiet";
      button.textContent = "Unlink";
      button.title = "You will sign in again as yourself: unlinking needs proof that it is you.";
      button.addEventListener("click", () => unlink(identity));
      action.appendChild(button);
    }
    row.appendChild(action);
    rows.appendChild(row);
  });
}

async function render(subBefore) {
  $("loading").hidden = true;
  if (!(await client.isAuthenticated())) {
    $("signed-out").hidden = false;
    return;
  }
  const claims = await client.getIdTokenClaims();
  $("signed-in").hidden = false;
  $("hello").textContent = "Hello, " + (claims.name || claims.sub);
  $("sub").textContent = claims.sub;
  $("email").textContent = claims.email ? "· " + claims.email : "";
  const last = sessionStorage.getItem(LAST_RESULT);
  if (last && last !== "null") $("claim").textContent = JSON.stringify(JSON.parse(last), null, 2);
  const buttons = $("link-buttons");
  for (const [connection, label] of LINK_BUTTONS) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", () => link(connection));
    buttons.appendChild(button);
  }
  const popupButton = document.createElement("button");
  popupButton.type = "button";
  popupButton.className = "quiet";
  popupButton.textContent = "Link GitHub in a popup";
  popupButton.title = "loginWithPopup: the same request, answered by web_message to this page";
  popupButton.addEventListener("click", () => linkInPopup("github"));
  buttons.appendChild(popupButton);
  const previous = JSON.parse(sessionStorage.getItem(PREVIOUS_USER) || "null");
  if (previous && previous.sub !== claims.sub) {
    $("previous-name").textContent = previous.name;
    $("previous-name-2").textContent = previous.name;
    $("refusal-demo").hidden = false;
    $("forged-link").addEventListener("click", () => link("github", previous.idToken));
  }
  await showIdentities();
  showApi(await callApi(Boolean(subBefore)), subBefore);
}

async function main() {
  if (settings.webAppUrl) {
    $("web-app-link").href = settings.webAppUrl;
    $("web-app-link").textContent = settings.webAppUrl;
    $("web-app").hidden = false;
  }
  try {
    explanations = await (await fetch("/explanations.json")).json();
    client = await auth0.createAuth0Client({
      domain: settings.domain,
      clientId: settings.clientId,
      // Refresh tokens (rotating) instead of the silent-auth iframe, which third-party cookie
      // blocking breaks; localStorage so that a reload keeps the session.
      useRefreshTokens: true,
      cacheLocation: "localstorage",
      authorizationParams: { redirect_uri: settings.redirectUri, audience: settings.audience },
    });
  } catch (e) {
    $("loading").hidden = true;
    notice("bad", "The SDK could not start", String(e && e.message), "Reload the page.");
    return;
  }
  $("sign-in").addEventListener("click", () =>
    client.loginWithRedirect({ appState: { action: "login" } }));
  $("sign-out").addEventListener("click", async () => {
    const claims = await client.getIdTokenClaims();
    // Kept only so that the next user can see linker refuse someone else's token.
    sessionStorage.setItem(PREVIOUS_USER, JSON.stringify(
      { sub: claims.sub, name: claims.name || claims.sub, idToken: claims.__raw }));
    sessionStorage.removeItem(LAST_RESULT);
    await client.logout({ logoutParams: { returnTo: settings.redirectUri } });
  });
  $("call-api").addEventListener("click", async () => {
    clearNotice();
    showApi(await callApi(true), null);
  });
  let subBefore = null;
  const query = new URLSearchParams(window.location.search);
  if ((query.has("code") || query.has("error")) && query.has("state")) {
    try {
      subBefore = await finishRedirect();
    } catch (e) {
      notice("bad", "Sign-in failed", String(e && e.message), "Sign in again.");
    }
    window.history.replaceState(null, "", "/");
  }
  try {
    await render(subBefore);
  } catch (e) {
    notice("bad", "Something failed", String(e && e.message), "Reload the page, or sign in again.");
  }
}

main();
