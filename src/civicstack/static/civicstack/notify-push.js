// Progressive enhancement for the notification settings page: turn on browser
// notifications (Web Push) and mark "this browser" in the list. Without JavaScript, or
// in a browser without the Push API, the page works and says what is needed.

const root = document.querySelector("[data-notify-push]");
const unsupportedNote = document.querySelector("[data-notify-push-unsupported]");

const supported =
  window.isSecureContext &&
  "serviceWorker" in navigator &&
  "PushManager" in window &&
  "Notification" in window;

function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") +
    "=".repeat((4 - (base64url.length % 4)) % 4);
  const raw = atob(padded);
  return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
}

async function fingerprint(endpoint) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(endpoint));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"))
    .join("")
    .slice(0, 32);
}

function activated(registration) {
  if (registration.active) return Promise.resolve(registration);
  const worker = registration.installing || registration.waiting;
  return new Promise((resolve, reject) => {
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve(registration);
      if (worker.state === "redundant") reject(new Error("service worker failed"));
    });
  });
}

async function currentSubscription() {
  const registration = await navigator.serviceWorker.getRegistration(root.dataset.scope);
  return registration ? registration.pushManager.getSubscription() : null;
}

async function markThisBrowser() {
  const subscription = await currentSubscription();
  if (!subscription) return null;
  const mine = await fingerprint(subscription.endpoint);
  let listed = false;
  for (const row of document.querySelectorAll("[data-push-fingerprint]")) {
    if (row.dataset.pushFingerprint !== mine) continue;
    listed = true;
    const tag = row.querySelector("[data-push-this-browser]");
    if (tag) tag.hidden = false;
    const remove = row.querySelector("[data-push-remove]");
    if (remove) {
      // Removing this browser also ends its subscription at the push service.
      remove.addEventListener("submit", () => {
        subscription.unsubscribe().catch(() => {});
      });
    }
  }
  return listed ? subscription : null;
}

async function subscribe() {
  const registration = await activated(
    await navigator.serviceWorker.register(root.dataset.worker, { scope: root.dataset.scope }),
  );
  const options = { userVisibleOnly: true, applicationServerKey: keyBytes(root.dataset.key) };
  try {
    return await registration.pushManager.subscribe(options);
  } catch (error) {
    // A subscription made with an earlier server key must be replaced.
    const old = await registration.pushManager.getSubscription();
    if (!old) throw error;
    await old.unsubscribe();
    return registration.pushManager.subscribe(options);
  }
}

async function enable(button, status) {
  button.disabled = true;
  status.textContent = root.dataset.messageWorking;
  try {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      status.textContent = root.dataset.messageBlocked;
      return;
    }
    const subscription = await subscribe();
    const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
    const response = await fetch(root.dataset.subscribeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(subscription.toJSON()),
    });
    if (response.status !== 201) throw new Error(`server answered ${response.status}`);
    status.textContent = root.dataset.messageOn;
    // Show the list with this browser in it, and the confirmation banner.
    window.location.reload();
  } catch (error) {
    status.textContent = root.dataset.messageFailed;
  } finally {
    button.disabled = false;
  }
}

if (root && supported) {
  if (unsupportedNote) unsupportedNote.hidden = true;
  root.hidden = false;
  const button = root.querySelector("[data-push-enable]");
  const status = root.querySelector("[data-push-status]");
  button.addEventListener("click", () => enable(button, status));
  markThisBrowser()
    .then((subscription) => {
      // Already on here: nothing to turn on.
      if (subscription && Notification.permission === "granted") root.hidden = true;
    })
    .catch(() => {});
}
