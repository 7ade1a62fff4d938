// The disputes screens (vigil.web.disputes). Two small helps, both optional (the server
// checks everything again and the pages work without this file):
// - the Rule button names what it will do, from the chosen outcome and refund amount:
//   "Rule: refund USD 40.00 to the buyer…"; the ruling itself still takes the server's
//   confirming step;
// - the disputes list's Status filter applies as soon as it changes (Show stays for no JS).
(function () {
  "use strict";
  var FALLBACK = "Rule and send the payment instruction…";
  function ruleLabel(form) {
    var outcome = form.querySelector("select[data-outcome]");
    var amount = form.querySelector('input[name="amount"]');
    var total = form.getAttribute("data-amount") || "";
    var currency = form.getAttribute("data-currency") || "";
    var value = outcome ? outcome.value : "";
    if (value === "full_refund") return "Rule: refund " + currency + " " + total + " to the buyer…";
    if (value === "release" || value === "no_action") {
      return "Rule: release " + currency + " " + total + " to the seller…";
    }
    if (value === "redo") return "Rule: the seller redoes the work, the payment stays held…";
    if (value === "partial_refund") {
      // As the server reads it: digits and at most one separator, "." or "," (30,50 is
      // thirty and a half); anything else the server refuses, so no amount is named.
      var typed = amount ? amount.value.trim() : "";
      if (/^\d+([.,]\d+)?$/.test(typed)) {
        typed = typed.replace(",", ".");
        return "Rule: refund " + currency + " " + typed + " to the buyer, the rest to the seller…";
      }
      return "Rule: part refund to the buyer…";
    }
    return FALLBACK;
  }
  function sync(form) {
    var button = form.querySelector("[data-rule-label]");
    if (button) button.textContent = ruleLabel(form);
  }
  function onEdit(ev) {
    var form = ev.target && ev.target.closest ? ev.target.closest("[data-rule-form]") : null;
    if (form) sync(form);
  }
  document.addEventListener("change", onEdit);
  document.addEventListener("input", onEdit);
  document.addEventListener("change", function (ev) {
    var select = ev.target;
    if (select && select.id === "status-filter" && select.form && select.form.requestSubmit) {
      select.form.requestSubmit();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("[data-rule-form]");
    for (var i = 0; i < forms.length; i++) sync(forms[i]);
  });
})();
