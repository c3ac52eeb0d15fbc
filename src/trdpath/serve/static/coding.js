// The coding page: turn a mouse selection in the transcript into code-point offsets (REFI-QDA: Unicode
// code points, end-exclusive) for the coding form; number keys apply a code; colours from the codebook.
// Progressive enhancement: without it, the offsets can be typed into the form.
(function () {
  "use strict";
  var COLOR = /^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

  function codePoints(s) { return Array.from(s).length; }

  function tint(c, alpha) {
    var h = c.slice(1);
    if (h.length === 3) h = h[0] + h[0] + h[1] + h[1] + h[2] + h[2];
    var n = parseInt(h, 16);
    return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function paint() {
    document.querySelectorAll("[data-color]").forEach(function (el) {
      var c = el.getAttribute("data-color");
      if (!COLOR.test(c)) return;  // only a validated colour ever reaches a style (no CSS injection)
      if (el.classList.contains("swatch")) el.style.background = c;
      else if (el.classList.contains("stripe")) el.style.borderLeftColor = c;
      else if (el.classList.contains("coded")) { el.style.borderBottomColor = c; el.style.background = tint(c, 0.22); }
    });
  }

  // Offset (code points) of a DOM position inside the transcript, or null when it is outside.
  function offsetOf(root, node, offset) {
    if (!root.contains(node)) return null;
    if (node.nodeType === Node.TEXT_NODE) {
      var piece = node.parentElement.closest("[data-start]");
      if (!piece || !root.contains(piece)) return null;
      return parseInt(piece.getAttribute("data-start"), 10) + codePoints(node.data.slice(0, offset));
    }
    if (node === root) {
      var child = root.children[offset];
      if (child) return parseInt(child.getAttribute("data-start"), 10);
      return parseInt(root.getAttribute("data-length"), 10);
    }
    var el = node.closest("[data-start]");
    if (!el) return null;
    var start = parseInt(el.getAttribute("data-start"), 10);
    return offset === 0 ? start : start + codePoints(el.textContent);
  }

  function setup() {
    paint();
    var root = document.getElementById("transcript");
    var form = document.getElementById("code-form");
    if (!root || !form) return;
    var start = document.getElementById("start"), end = document.getElementById("end");
    var preview = document.getElementById("selection-preview");
    var select = document.getElementById("code-select");

    function capture() {
      var sel = window.getSelection();
      if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return;
      var range = sel.getRangeAt(0);
      var a = offsetOf(root, range.startContainer, range.startOffset);
      var b = offsetOf(root, range.endContainer, range.endOffset);
      if (a === null || b === null || b <= a) return;
      start.value = a; end.value = b;
      preview.textContent = range.toString();  // textContent: the words are shown as text, never as HTML
    }
    document.addEventListener("selectionchange", capture);
    root.addEventListener("mouseup", capture);

    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      var t = ev.target;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
      if (!/^[1-9]$/.test(ev.key) || !start.value || !end.value) return;
      var option = select.querySelector('option[data-key="' + ev.key + '"]');
      if (!option) return;
      Array.prototype.forEach.call(select.options, function (o) { o.selected = (o === option); });
      ev.preventDefault();
      form.submit();
    });

    // "Move to the selection": a coding takes the words now selected (the offsets of the coding form).
    document.querySelectorAll("form.respan").forEach(function (f) {
      f.addEventListener("submit", function (ev) {
        if (!start.value || !end.value) { ev.preventDefault(); preview.textContent = "Select the new words first."; return; }
        f.querySelector("input[name=start]").value = start.value;
        f.querySelector("input[name=end]").value = end.value;
      });
    });

    // Clicking a coding in the list outlines its words in the transcript (NVivo's coding stripes).
    document.querySelectorAll("#segments .stripe").forEach(function (li) {
      li.addEventListener("click", function (ev) {
        if (ev.target.closest("form, a, details")) return;
        var id = li.getAttribute("data-segment");
        document.querySelectorAll(".stripe.active").forEach(function (x) { x.classList.remove("active"); });
        li.classList.add("active");
        root.querySelectorAll(".coded").forEach(function (p) {
          var on = (" " + p.getAttribute("data-segments") + " ").indexOf(" " + id + " ") >= 0;
          p.classList.toggle("focus", on);
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
})();
