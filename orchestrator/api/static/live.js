// The live rollout view: the table is rendered by the server (readable without this script);
// here each `progress` event rewrites the states in place. The stream ends with the rollout, once
// its devices have settled; a page that saw it move then reloads, for the buttons the end allows.
(function () {
  var script = document.currentScript;
  if (!window.EventSource) return;
  var source = new EventSource(script.getAttribute("data-events"));
  var rendered = document.getElementById("rollout-state").textContent, seen = 0, moved = false;
  function set(el, text, state) { if (!el) return; el.textContent = text; if (state !== undefined) el.className = el.className.split(" ")[0] + " state " + state; }
  source.addEventListener("progress", function (ev) {
    var r = JSON.parse(ev.data);
    // the first event is the state the page was rendered with, unless it moved meanwhile
    if (seen++ > 0 || r.state !== rendered) moved = true;
    // a wave starts or stops awaiting its confirm: the buttons the viewer may press change with it
    var shown = document.getElementById("rollout-state").textContent;
    if (shown !== r.state && (shown === "awaiting-confirm" || r.state === "awaiting-confirm")) { location.reload(); return; }
    set(document.getElementById("rollout-state"), r.state, r.state);
    document.getElementById("rollout-error").textContent = r.error || "";
    r.waves.forEach(function (w) {
      w.devices.forEach(function (d) {
        var row = document.querySelector('tr[data-device="' + d.device + '"]');
        if (!row) return;
        row.querySelector(".wave-state").textContent = w.state;
        set(row.querySelector(".device-state"), d.state, d.state);
        row.querySelector(".seconds").textContent = d.seconds === null ? "" : d.seconds.toFixed(2);
        row.querySelector(".error").textContent = d.error || "";
      });
    });
  });
  source.addEventListener("end", function () {
    source.close();
    if (moved) { location.reload(); return; }  // rendered as it ends: nothing more to show
    ["do-pause", "do-resume", "do-abort"].forEach(function (id) {
      var b = document.getElementById(id);
      if (b) b.parentNode.removeChild(b);
    });
  });
})();
