// Draw a case's BPMN process with the bpmn-js viewer and mark where the case is now.
// Progressive enhancement only: without this script the page lists the steps as text.
//
// Markup (no inline script or style, so the strict CSP holds):
//
//   <div data-process-diagram
//        data-xml-url="/backoffice/cases/…/process.bpmn"
//        data-active="assess information_overdue"></div>
//   <script src="{% static 'build/bpmn-viewer.min.js' %}" defer></script>
//   <script src="{% static 'cases/process-diagram.js' %}" defer></script>
//
// with build/diagram-js.css, build/bpmn-js.css and cases/process-diagram.css linked in the
// head. The diagram is drawn into a new element inside the container, so anything already
// there (such as the text list of steps) stays. The bpmn.io watermark the viewer draws must
// stay visible: its licence requires it.
(function () {
  "use strict";

  function activeIds(container) {
    return (container.getAttribute("data-active") || "").split(/\s+/).filter(Boolean);
  }

  function fail(container, canvas, viewer) {
    if (viewer) {
      viewer.destroy();
    }
    if (canvas.parentNode) {
      canvas.parentNode.removeChild(canvas);
    }
    container.classList.remove("cs-process-diagram--loading");
    container.classList.add("cs-process-diagram--failed");
  }

  function render(container) {
    var url = container.getAttribute("data-xml-url");
    if (!url || typeof window.BpmnJS !== "function" || !window.fetch) {
      return;
    }
    var canvas = document.createElement("div");
    canvas.className = "cs-process-diagram__canvas";
    container.appendChild(canvas);
    container.classList.add("cs-process-diagram--loading");

    var viewer;
    try {
      viewer = new window.BpmnJS({ container: canvas });
    } catch (error) {
      fail(container, canvas, null);
      return;
    }

    window
      .fetch(url, { credentials: "same-origin", headers: { Accept: "application/xml, text/xml" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (xml) {
        return viewer.importXML(xml);
      })
      .then(function () {
        var drawing = viewer.get("canvas");
        var elements = viewer.get("elementRegistry");
        drawing.zoom("fit-viewport", "auto");
        activeIds(container).forEach(function (id) {
          if (elements.get(id)) {
            drawing.addMarker(id, "cs-active");
          }
        });
        container.classList.remove("cs-process-diagram--loading");
        container.classList.add("cs-process-diagram--ready");
      })
      .catch(function () {
        // The text list of steps still tells the whole story.
        fail(container, canvas, viewer);
      });
  }

  function renderAll() {
    var containers = document.querySelectorAll("[data-process-diagram]");
    Array.prototype.forEach.call(containers, render);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
