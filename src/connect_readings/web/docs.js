// Swagger UI on the served contract; "Authorize" takes the bearer token (the document's bearerAuth scheme).
// A token the dashboard kept in this tab's sessionStorage is offered up front.
"use strict";
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  tryItOutEnabled: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  onComplete: function () {
    var token = sessionStorage.getItem("connect-readings.token");
    if (token) window.ui.preauthorizeApiKey("bearerAuth", token);
  },
});
