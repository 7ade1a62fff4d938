// The case page (templates/case.html). The "Decide" control (key d) puts the cursor on the
// decision panel's first control (the policy picker); the panel arrives by htmx, so it is
// looked up when the key is pressed. Global keys are in console.js.
(function () {
  "use strict";
  function firstControl(panel) {
    return panel.querySelector("#decision-policy") ||
      panel.querySelector("select, input:not([type=hidden]), textarea, button, a[href]");
  }
  document.addEventListener("click", function (ev) {
    var decide = ev.target && ev.target.closest ? ev.target.closest("[data-decide]") : null;
    if (!decide) return;
    ev.preventDefault();
    var panel = document.getElementById("decision-panel");
    if (!panel) return;
    var control = firstControl(panel);
    panel.scrollIntoView({ block: "start" });
    (control || panel).focus();
  });
})();
