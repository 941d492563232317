// Behaviour of the review and administration pages (wired by data- attributes; no inline
// scripts): a header checkbox that selects every row of a bulk form.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (!all) { return; }
    var form = all.getAttribute("data-select-all");
    document.querySelectorAll('input[type="checkbox"][form="' + form + '"]').forEach(function (box) {
      if (box !== all) { box.checked = all.checked; }
    });
  });
})();
