// Civicstack's push service worker: shows web push notifications and opens their link.
// It is served from /<language>/account/notifications/push-worker.js with a scope that
// controls no page, so it never sees the site's requests; it only handles push messages.

function sameOriginUrl(value) {
  try {
    const url = new URL(String(value || "/"), self.location.origin);
    if (url.origin === self.location.origin) return url.href;
  } catch (error) {
    // Not a URL: fall through to the home page.
  }
  return new URL("/", self.location.origin).href;
}

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json() || {};
    } catch (error) {
      data = { body: event.data.text() };
    }
  }
  const title = typeof data.title === "string" && data.title ? data.title : self.location.host;
  const options = {
    body: typeof data.body === "string" ? data.body : "",
    tag: String(data.tag || data.id || ""),
    data: { url: sameOriginUrl(data.url) },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = sameOriginUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === url && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(url);
    }),
  );
});
