// Starts Swagger UI from a file, not an inline script: the Content-Security-Policy forbids inline scripts.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.schemaUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the default validator is an external service: no calls out
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
