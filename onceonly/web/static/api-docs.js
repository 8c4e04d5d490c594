// Starts Swagger UI (served from this site, /static/swagger-ui-bundle.js) on /api/docs.
// A file rather than an inline script, so the page keeps the site's CSP ('self' only).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // the public validator would be a request to another host
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
