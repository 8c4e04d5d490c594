// Starts Swagger UI (served from this site, /static/swagger-ui-bundle.js) on /api/docs.
// A file rather than an inline script, so the page keeps the site's CSP ('self' only).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    // No deep links: Swagger UI puts each one as a link inside the operation's button, a
    // control nested in a control that screen readers cannot reach (axe: nested-interactive).
    deepLinking: false,
    validatorUrl: null, // the public validator would be a request to another host
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
  // Swagger UI leaves its copy buttons and request-body boxes without a name a screen reader
  // can say; name them, in the page's language, whenever it draws them.
  var names = [
    [".copy-to-clipboard > button", root.getAttribute("data-copy-label")],
    ["textarea.body-param__text", root.getAttribute("data-body-label")]
  ];
  function name() {
    names.forEach(function (pair) {
      root.querySelectorAll(pair[0] + ":not([aria-label])").forEach(function (el) {
        el.setAttribute("aria-label", pair[1]);
      });
    });
  }
  new MutationObserver(name).observe(root, { childList: true, subtree: true });
})();
