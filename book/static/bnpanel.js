/* bnpanel.js: the controls and live curves of the in-browser trainer (bntrain.js does the training).
 *
 * The markup comes from bnreview.browser.panel_html(); without JavaScript its fallback text stays.
 * The panel's state is on its root element (data-state: ready, loading, training, done, stopped,
 * error), and the latest session is window.bnTrainer.session: the browser test reads both, and
 * calls the status line's and the note's texts (window.bnPanel) on sessions of its own.
 */
(function () {
  "use strict";

  const COLOURS = { bn: "#1f77b4", base: "#d95f02" };
  const SVG = "http://www.w3.org/2000/svg";

  function lrOf(sliderValue) { // the slider is log10(lr); the rate used is the one shown, to two digits
    return Number(Math.pow(10, Number(sliderValue)).toPrecision(2));
  }

  function percent(x) { return (100 * x).toFixed(1) + "%"; }

  // --- charts: plain SVG, redrawn after every batch ---------------------------------------------

  function element(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // spec: {title, xLabel, xMax, yMin, yMax, log, yTicks, series: [{label, colour, points: [[x, y]], mark}]}
  function chart(spec) {
    const [width, height, left, right, top, bottom] = [420, 240, 48, 14, 24, 36];
    const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, class: "bnt-chart", role: "img", "aria-label": spec.title });
    const f = spec.log ? Math.log10 : (v) => v;
    const sx = (x) => left + (width - left - right) * x / Math.max(spec.xMax, 1);
    const sy = (y) => {
      const v = Math.min(Math.max(f(y), f(spec.yMin)), f(spec.yMax));
      return height - bottom - (height - top - bottom) * (v - f(spec.yMin)) / (f(spec.yMax) - f(spec.yMin));
    };
    svg.appendChild(element("text", { x: left, y: 14, class: "bnt-title" }, spec.title));
    for (const tick of spec.yTicks) {
      svg.appendChild(element("line", { x1: left, x2: width - right, y1: sy(tick), y2: sy(tick), class: "bnt-grid" }));
      svg.appendChild(element("text", { x: left - 4, y: sy(tick) + 4, class: "bnt-tick", "text-anchor": "end" }, spec.tickLabel(tick)));
    }
    svg.appendChild(element("text", { x: width - right, y: height - 6, class: "bnt-tick", "text-anchor": "end" }, spec.xLabel));
    for (const [tick, label] of spec.xTicks) {
      svg.appendChild(element("line", { x1: sx(tick), x2: sx(tick), y1: top, y2: height - bottom, class: "bnt-grid" }));
      svg.appendChild(element("text", { x: sx(tick), y: height - bottom + 14, class: "bnt-tick", "text-anchor": "middle" }, label));
    }
    spec.series.forEach((s, row) => {
      const finite = s.points.filter(([, y]) => Number.isFinite(y));
      if (finite.length) {
        const d = finite.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
        svg.appendChild(element("path", { d, fill: "none", stroke: s.colour, "stroke-width": spec.dots ? 2 : 1.2, class: "bnt-line" }));
        if (spec.dots) finite.forEach(([x, y]) => svg.appendChild(element("circle", { cx: sx(x), cy: sy(y), r: 3, fill: s.colour })));
      }
      if (s.mark !== null && s.mark !== undefined) { // a diverged run: where it stopped
        svg.appendChild(element("line", { x1: sx(s.mark), x2: sx(s.mark), y1: top, y2: height - bottom, stroke: s.colour, "stroke-dasharray": "4 3" }));
        svg.appendChild(element("text", { x: sx(s.mark) + 3, y: top + 12 + 12 * row, fill: s.colour, class: "bnt-tick" }, `${s.label} diverged at step ${s.mark}`));
      }
    });
    return svg;
  }

  function draw(container, session) {
    const totalSteps = session.stepsPerEpoch * session.options.epochs;
    const runs = session.runs.map((run, i) => ({ run, colour: i === 0 && run.bn.length ? COLOURS.bn : COLOURS.base }));
    const highest = Math.max(10, ...session.runs.flatMap((r) => r.losses.filter(Number.isFinite)));
    const epochs = Array.from({ length: session.options.epochs + 1 }, (_, e) => e);
    const loss = chart({
      title: "training loss per step (log scale)", xLabel: "step", xMax: totalSteps,
      xTicks: epochs.map((e) => [e * session.stepsPerEpoch, String(e * session.stepsPerEpoch)]), yMin: 0.01, yMax: Math.min(1000, highest),
      log: true, yTicks: [0.01, 0.1, 1, 10, 100].filter((t) => t <= Math.min(1000, highest)), tickLabel: String,
      series: runs.map(({ run, colour }) => ({ label: run.label, colour, points: run.losses.map((l, i) => [i + 1, l]), mark: run.diverged })),
    });
    const accuracy = chart({
      title: `test accuracy after each epoch (${session.testImages.toLocaleString("en")} test images)`, xLabel: "epoch",
      xMax: session.options.epochs, xTicks: epochs.map((e) => [e, String(e)]), yMin: 0, yMax: 1, yTicks: [0, 0.25, 0.5, 0.75, 1], tickLabel: percent, dots: true,
      series: runs.map(({ run, colour }) => ({ label: run.label, colour, points: run.acc.map((a, e) => [e, a]) })),
    });
    const legend = document.createElement("p");
    legend.className = "bnt-legend";
    for (const { run, colour } of runs) {
      const key = document.createElement("span");
      key.style.color = colour;
      key.textContent = `\u2014 ${run.label}`;
      legend.append(key, " ");
    }
    container.replaceChildren(legend, loss, accuracy);
  }

  function whereText(session) { // what runs where; with the time per epoch once the session is over
    const text = `Trained in your browser by TensorFlow.js (${session.backend.toUpperCase()} backend) on ` +
      `${session.images.toLocaleString("en")} MNIST images, tested on ${session.testImages.toLocaleString("en")} others; ` +
      "the book's own runs are PyTorch's.";
    if (!(session.done || session.stopped)) return text;
    const times = session.runs.map((r) => `${r.epochSeconds.map((s) => s.toFixed(1)).join(", ")} s for ` +
      `${r.epochSeconds.length === 1 ? "its epoch" : "its epochs"} (${r.label})`);
    return `${text} Training took ${times.join(" and ")}.`;
  }

  const latest = (values) => values[values.length - 1];

  function statusText(session) {
    const parts = session.runs.map((run) => {
      const last = latest(run.losses);
      const batchAcc = run.batchAcc && run.batchAcc.length > 1 ? ` (${percent(latest(run.batchAcc))} with batch statistics)` : "";
      const acc = run.acc.length > 1 ? `, test accuracy ${percent(latest(run.acc))}${batchAcc}` : "";
      const state = run.diverged !== null ? ` diverged at step ${run.diverged}` : last === undefined ? "" : ` loss ${last.toFixed(3)}${acc}`;
      return `${run.label}:${state}`;
    });
    const where = session.done ? "Done" : session.stopped ? `Stopped after batch ${session.step}` :
      `Epoch ${session.epoch} of ${session.options.epochs}, batch ${session.step - (session.epoch - 1) * session.stepsPerEpoch} of ${session.stepsPerEpoch}`;
    return `${where}. ${parts.join("; ")}.`;
  }

  // Why the network with BN tests lower than with batch statistics: said only where the gap (in
  // points) is more than the panel's data-gap-note (bnreview.browser.GAP_NOTE); empty otherwise.
  function noteText(session, gapNote) {
    const run = session.runs.find((r) => r.batchAcc && r.batchAcc.length > 1 && r.diverged === null);
    if (!run) return "";
    const gap = 100 * (latest(run.batchAcc) - latest(run.acc));
    if (!(gap > gapNote)) return "";
    return `BN's test accuracy is ${gap.toFixed(1)} points below its accuracy with batch statistics because it normalises with ` +
      "running averages of them (Algorithm 2), which trail weights that still move fast; more steps or a lower rate close the gap.";
  }

  // --- the panel -----------------------------------------------------------------------------

  function setUp(root) {
    const $ = (selector) => root.querySelector(selector);
    const controls = root.querySelectorAll(".bnt-controls input, .bnt-controls select, button[name=verify]");
    const [train, stop, slider] = [$("button[name=train]"), $("button[name=stop]"), $("input[name=lr]")];
    const gapNote = Number(root.dataset.gapNote);
    let stopRequested = false;
    const showLr = () => { $("output[name=lr-value]").textContent = String(lrOf(slider.value)); };
    slider.addEventListener("input", showLr);
    showLr();
    $(".bnt-fallback").hidden = true;
    $(".bnt-panel").hidden = false;
    root.dataset.state = "ready";

    const busy = (state) => {
      root.dataset.state = state;
      const running = state === "loading" || state === "training" || state === "checking";
      controls.forEach((c) => { c.disabled = running; });
      train.disabled = running;
      stop.disabled = !(state === "loading" || state === "training");
    };
    const options = () => ({
      lr: lrOf(slider.value),
      bnLayers: Array.from(root.querySelectorAll("input[name=bn]:checked")).map((c) => c.value),
      position: $("input[name=position]:checked").value,
      epochs: Number($("select[name=epochs]").value),
      images: Number($("select[name=images]").value),
      seed: Math.max(0, Math.floor(Number($("input[name=seed]").value) || 0)),
      backend: $("select[name=backend]").value,
    });

    const show = (session) => {
      draw($(".bnt-charts"), session);
      $(".bnt-status").textContent = statusText(session);
      $(".bnt-where").textContent = whereText(session);
      const note = noteText(session, gapNote);
      $(".bnt-note").textContent = note;
      $(".bnt-note").hidden = !note;
    };
    let frame = null;
    const update = (session) => {
      window.bnTrainer.session = session;
      if (session.step > 0 || session.runs[0].acc.length) root.dataset.state = "training";
      if (frame === null) {
        frame = requestAnimationFrame(() => {
          frame = null;
          show(session);
        });
      }
    };

    train.addEventListener("click", async () => {
      stopRequested = false;
      const chosen = options();
      busy("loading");
      $(".bnt-status").textContent = "Loading TensorFlow.js and the images...";
      $(".bnt-note").hidden = true;
      try {
        const session = await window.bnTrainer.train(chosen, update, () => stopRequested);
        window.bnTrainer.session = session;
        show(session);
        busy(session.stopped ? "stopped" : "done");
      } catch (error) {
        $(".bnt-status").textContent = "Could not train here: " + error.message + (location.protocol !== "file:" ? "" :
          ". Opened as a file, the page may not load the images and the engine: serve the book instead " +
          "(python -m http.server -d _build/html) and open http://localhost:8000.");
        busy("error");
      }
    });
    stop.addEventListener("click", () => { stopRequested = true; stop.disabled = true; });

    $("button[name=verify]").addEventListener("click", async () => {
      const out = $(".bnt-verify span");
      busy("checking");
      out.textContent = "Replaying PyTorch's first steps here...";
      try {
        const backend = $("select[name=backend]").value;
        const [withBN, withoutBN, bn] = [await window.bnTrainer.replay("with_bn", backend),
          await window.bnTrainer.replay("without_bn", backend), await window.bnTrainer.checkBN(backend)];
        const bnDiff = Math.max(...Object.values(bn.layers).flatMap((l) => Object.values(l)));
        out.textContent = `${withBN.losses.length} steps of the book's PyTorch run, replayed here by TensorFlow.js (${withBN.backend.toUpperCase()}) ` +
          `from the same weights and batches: step losses agree to ${withBN.maxRelative.toExponential(1)} (with BN on every layer) and ` +
          `${withoutBN.maxRelative.toExponential(1)} (without BN), relative; one BN layer's output and running statistics to ` +
          `${bnDiff.toExponential(1)}, absolute.`;
        window.bnTrainer.verification = { withBN, withoutBN, bn };
        busy("ready");
      } catch (error) {
        out.textContent = "Could not check here: " + error.message;
        busy("error");
      }
    });
  }

  window.bnPanel = { statusText, noteText }; // for the browser test

  function start() { document.querySelectorAll(".bn-browser-train").forEach(setUp); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
