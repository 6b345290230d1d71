// Passkeys (WebAuthn) for the account pages: add a passkey, sign in with one, or use one to
// confirm it is you. Each [data-passkey] block names the ceremony ("create" or "get"), the
// URL that gives the options and the URL that checks the answer. The server keeps the
// challenge; this file only turns its JSON into a navigator.credentials call and posts the
// browser's answer back as JSON, then follows the redirect the server gives.
//
// Without JavaScript, or in a browser without WebAuthn, the block keeps saying what is
// needed, and the password and code routes on the same pages still work.

const supported =
  window.isSecureContext &&
  typeof window.PublicKeyCredential === "function" &&
  navigator.credentials !== undefined;

function toBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (ch) => ch.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function creationOptions(json) {
  return {
    ...json,
    challenge: toBytes(json.challenge),
    user: { ...json.user, id: toBytes(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) })),
  };
}

function requestOptions(json) {
  return {
    ...json,
    challenge: toBytes(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) })),
  };
}

function credentialJSON(credential) {
  const response = credential.response;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if (response.attestationObject) {
    json.response.attestationObject = toBase64url(response.attestationObject);
    json.response.transports =
      typeof response.getTransports === "function" ? response.getTransports() : [];
  } else {
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
  }
  return json;
}

async function postJSON(url, token, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, data };
}

// The GOV.UK error summary, built only when there is an error to show.
function showError(block, message) {
  const holder = block.querySelector("[data-passkey-error]");
  if (!holder) return;
  const summary = document.createElement("div");
  summary.className = "govuk-error-summary";
  summary.tabIndex = -1;
  const alert = document.createElement("div");
  alert.setAttribute("role", "alert");
  const title = document.createElement("h2");
  title.className = "govuk-error-summary__title";
  title.textContent = block.dataset.passkeyProblem;
  const body = document.createElement("div");
  body.className = "govuk-error-summary__body";
  const text = document.createElement("p");
  text.className = "govuk-body";
  text.textContent = message;
  body.append(text);
  alert.append(title, body);
  summary.append(alert);
  holder.replaceChildren(summary);
  summary.focus();
}

async function run(block, button) {
  const token = block.querySelector("input[name=csrfmiddlewaretoken]").value;
  const fallback = block.dataset.passkeyFailed;
  const nameField = block.dataset.passkeyName
    ? document.getElementById(block.dataset.passkeyName)
    : null;
  button.disabled = true;
  try {
    // The name goes first with the options request, so a bad name is refused before the
    // authenticator makes a credential the server would then not keep.
    const named = nameField ? { name: nameField.value } : {};
    const options = await postJSON(block.dataset.passkeyOptions, token, named);
    if (!options.ok || !options.data) {
      showError(block, (options.data && options.data.error) || fallback);
      return;
    }
    let credential;
    try {
      credential =
        block.dataset.passkey === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(options.data) })
          : await navigator.credentials.get({ publicKey: requestOptions(options.data) });
    } catch {
      // Cancelled, timed out or refused by the browser: the person can simply try again.
      showError(block, block.dataset.passkeyCancelled || fallback);
      return;
    }
    if (!credential) {
      showError(block, fallback);
      return;
    }
    const body = { credential: credentialJSON(credential), ...named };
    const result = await postJSON(block.dataset.passkeyVerify, token, body);
    if (result.ok && result.data && result.data.redirect) {
      window.location.assign(result.data.redirect);
      return;
    }
    showError(block, (result.data && result.data.error) || fallback);
  } catch {
    showError(block, fallback);
  } finally {
    button.disabled = false;
  }
}

for (const block of document.querySelectorAll("[data-passkey]")) {
  if (!supported) continue;
  const controls = block.querySelector("[data-passkey-controls]");
  const unsupported = block.querySelector("[data-passkey-unsupported]");
  const button = block.querySelector("[data-passkey-start]");
  if (!controls || !button) continue;
  controls.hidden = false;
  if (unsupported) unsupported.hidden = true;
  button.addEventListener("click", () => run(block, button));
}
