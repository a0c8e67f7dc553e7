// Starts Swagger UI on /api/docs (ui/apidocs.py). An external file, so the page needs no inline script.
(function () {
  "use strict";
  function start() {
    var root = document.getElementById("swagger-ui");
    if (!root || typeof window.SwaggerUIBundle !== "function") return;
    window.ui = window.SwaggerUIBundle({
      url: root.getAttribute("data-openapi-url"),
      domNode: root,
      deepLinking: false, // its links inside the operations' buttons are nested controls (axe: nested-interactive)
      layout: "BaseLayout",
      presets: [window.SwaggerUIBundle.presets.apis],
      validatorUrl: null, // never ask another host to validate the description
      tryItOutEnabled: false
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
