// The explorer's script (bnreview.explorer), run after plotly has drawn the figure. A string.Template
// with two placeholders: id, the figure div's id (a JSON string), and state, the grid's state (JSON:
// {lrs, lrLabels, placements, none, titles, initial}). It adds div.bnSelect(lrIndex, placementIndex)
// and div.bnState, and shows only the selected run's traces (by their meta: kind, lr, placement, ref).
(function () {
  var gd = document.getElementById(${id});
  var S = ${state};
  var controls = document.getElementById(${id} + "-controls");
  var slider = document.getElementById(${id} + "-lr");
  var shown = document.getElementById(${id} + "-lr-value");
  var summary = document.getElementById(${id} + "-summary");
  var buttons = controls.querySelectorAll("button[data-placement]");
  function clamp(k, n) { k = Math.round(Number(k)); return isFinite(k) ? Math.max(0, Math.min(n - 1, k)) : 0; }
  function select(i, j) {
    i = clamp(i, S.lrs.length); j = clamp(j, S.placements.length);
    var visible = gd.data.map(function (t) {
      var m = t.meta || {};
      var lrOk = m.lr === -1 || m.lr === i;
      return lrOk && (m.ref ? j !== S.none : m.placement === j);
    });
    gd.bnState = {lr: i, placement: j};
    gd.setAttribute("data-lr", String(S.lrs[i]));
    gd.setAttribute("data-placement", S.placements[j]);
    slider.value = String(i);
    shown.textContent = S.lrLabels[i];
    summary.firstChild.textContent = S.titles[i][j];
    for (var b = 0; b < buttons.length; b++) {
      buttons[b].setAttribute("aria-pressed", Number(buttons[b].getAttribute("data-placement")) === j ? "true" : "false");
    }
    return Plotly.restyle(gd, {visible: visible});
  }
  gd.bnSelect = select;
  slider.addEventListener("input", function () { select(slider.value, gd.bnState.placement); });
  for (var b = 0; b < buttons.length; b++) {
    buttons[b].addEventListener("click", function (event) {
      select(gd.bnState.lr, event.currentTarget.getAttribute("data-placement"));
    });
  }
  controls.style.display = "";
  select(S.initial[0], S.initial[1]);
})();
