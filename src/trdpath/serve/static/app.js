// Progressive enhancement only: the pages work without it. Choosing a filter clears the others
// (the server accepts one at a time) and submits the form.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("filters");
  if (!form) return;
  var selects = form.querySelectorAll("select[data-filter]");
  selects.forEach(function (select) {
    select.addEventListener("change", function () {
      selects.forEach(function (other) { if (other !== select) other.value = ""; });
      form.submit();
    });
  });
});
