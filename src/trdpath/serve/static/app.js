// Progressive enhancement only: the pages work without it.
document.addEventListener("DOMContentLoaded", function () {
  // Tables: choosing a filter clears the others (the server accepts one at a time) and submits the form.
  var form = document.getElementById("filters");
  if (form) {
    var selects = form.querySelectorAll("select[data-filter]");
    selects.forEach(function (select) {
      select.addEventListener("change", function () {
        selects.forEach(function (other) { if (other !== select) other.value = ""; });
        form.submit();
      });
    });
  }
  // Worklist: filters combine; any change submits the form.
  var worklist = document.getElementById("worklist-filters");
  if (worklist) {
    worklist.querySelectorAll("select[data-submit]").forEach(function (select) {
      select.addEventListener("change", function () { worklist.submit(); });
    });
  }
});
