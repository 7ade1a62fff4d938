// The outcome form of an appeal case (partials/case_appeal.html). Optional, as the page
// works without it (the server checks everything again and asks for the confirmation of an
// overturn or a modification itself):
// - the new decision's fields show only while Modify is chosen (the fields stay in the form
//   and the page, hidden; the server reads them only for Modify);
// - the submit button names what the chosen outcome does ("Uphold the decision",
//   "Overturn: lift the 7-day suspension…", "Modify the decision…").
(function () {
  "use strict";
  function chosen(form) {
    return form.querySelector('input[name="outcome"]:checked');
  }
  function sync(form) {
    var outcome = chosen(form);
    var modify = form.querySelector("#appeal-modify");
    if (modify) modify.hidden = !outcome || outcome.value !== "modify";
    var button = form.querySelector("#appeal-submit");
    if (button) {
      button.textContent = (outcome && outcome.getAttribute("data-button-label")) ||
        button.getAttribute("data-fallback-label") || button.textContent;
    }
  }
  function syncAll() {
    var forms = document.querySelectorAll("[data-appeal-form]");
    for (var i = 0; i < forms.length; i++) sync(forms[i]);
  }
  document.addEventListener("change", function (ev) {
    var form = ev.target && ev.target.closest ? ev.target.closest("[data-appeal-form]") : null;
    if (form && ev.target.name === "outcome") sync(form);
  });
  document.addEventListener("DOMContentLoaded", syncAll);
})();
