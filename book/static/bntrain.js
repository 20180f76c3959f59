/* bntrain.js: LeNet with and without batch normalisation, trained in the reader's browser.
 *
 * A mirror of the book's PyTorch code in TensorFlow.js ops: bnreview.models.LeNet (conv 6, 16,
 * 120 of 5x5, 2x2 average pooling, fc 84 and 10, tanh), bnreview.batchnorm (Algorithm 1 with the
 * biased batch variance; running statistics with momentum 0.1 and the unbiased variance;
 * Algorithm 2 in evaluation; no bias in a layer whose BN comes before its tanh), plain SGD and the
 * mean cross-entropy, and bnreview.data.batches (shuffled batches of 64, the last smaller one
 * kept unless it holds a single image). The build (bnreview.browser.export) writes the images,
 * the pixel table and the settings this file reads, and PyTorch's own first 50 steps, which
 * "Check against PyTorch" (and the browser test) replays here from the same start.
 *
 * TensorFlow.js, the images and the reference are fetched on the first click, not with the page.
 */
(function () {
  "use strict";

  const STATIC = new URL(".", document.currentScript.src).href; // the book's _static/
  const DATA = STATIC + "bn-browser/";
  const TFJS = STATIC + "tfjs/";
  const BACKENDS = ["wasm", "webgl", "cpu"]; // "fastest available" tries them in this order
  const LAYERS = { // name -> [kind, inputs, outputs], in network order
    conv1: ["conv", 1, 6], conv2: ["conv", 6, 16], conv3: ["conv", 16, 120], fc1: ["fc", 120, 84], fc2: ["fc", 84, 10],
  };
  const KERNEL = 5;
  const CLASSES = 10;
  const EVAL_CHUNK = 200; // test images per forward pass in evaluation
  const TEST_SHUFFLE_SEED = 2000; // the test batches of the evaluation with batch statistics
  const pause = () => new Promise((resolve) => setTimeout(resolve, 0)); // let the page breathe between steps

  // --- loading ---------------------------------------------------------------------------------

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error("could not load " + src));
      document.head.appendChild(script);
    });
  }

  let engine = null; // Promise of tf, once loaded
  function loadEngine() {
    engine = engine || loadScript(TFJS + "tf.min.js")
      .then(() => loadScript(TFJS + "tf-backend-wasm.min.js"))
      .then(() => {
        tf.wasm.setWasmPaths(TFJS);
        // Threads need a cross-origin-isolated page, which a static book is not: never ask for them.
        tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
        return tf;
      });
    return engine;
  }

  async function useBackend(name) {
    await loadEngine();
    for (const candidate of name === "auto" ? BACKENDS : [name]) {
      try {
        if (await tf.setBackend(candidate)) return candidate;
      } catch (error) { /* not available in this browser: try the next */ }
    }
    throw new Error(`no TensorFlow.js backend among ${name === "auto" ? BACKENDS.join(", ") : name} works in this browser`);
  }

  async function gunzip(bytes) {
    if (!(bytes[0] === 0x1f && bytes[1] === 0x8b)) return bytes; // a server already decompressed it
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  let dataset = null; // Promise of {settings, train, test}
  function loadData() {
    dataset = dataset || (async () => {
      const [settings, packed] = await Promise.all([
        fetch(DATA + "mnist-subset.json").then((r) => r.json()),
        fetch(DATA + "mnist-subset.bin").then((r) => r.arrayBuffer()),
      ]);
      const bytes = await gunzip(new Uint8Array(packed));
      const parts = {};
      let offset = 0;
      for (const [name, shape] of settings.layout) {
        const size = shape.reduce((a, b) => a * b, 1);
        parts[name] = bytes.subarray(offset, offset + size);
        offset += size;
      }
      const table = Float32Array.from(settings.pixel_table); // byte -> the book's normalised input
      const split = (images, labels) => ({ x: toInputs(images, table, settings), y: labels, n: labels.length });
      return {
        settings,
        train: split(parts.train_images, parts.train_labels),
        test: split(parts.test_images, parts.test_labels),
      };
    })();
    return dataset;
  }

  // 28x28 bytes -> 32x32 normalised inputs (NHWC), zero-padded in pixel space as data.load_mnist does.
  function toInputs(images, table, settings) {
    const side = settings.side, full = settings.input_side, pad = (full - side) / 2;
    const n = images.length / (side * side);
    const out = new Float32Array(n * full * full).fill(table[0]);
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < side; r++) {
        for (let c = 0; c < side; c++) {
          out[i * full * full + (r + pad) * full + c + pad] = table[images[i * side * side + r * side + c]];
        }
      }
    }
    return out;
  }

  function batch(split, indices, inputSide) {
    const pixels = inputSide * inputSide;
    const x = new Float32Array(indices.length * pixels);
    const y = new Float32Array(indices.length * CLASSES);
    indices.forEach((index, row) => {
      x.set(split.x.subarray(index * pixels, (index + 1) * pixels), row * pixels);
      y[row * CLASSES + split.y[index]] = 1;
    });
    return [tf.tensor4d(x, [indices.length, inputSide, inputSide, 1]), tf.tensor2d(y, [indices.length, CLASSES])];
  }

  // --- random numbers: PyTorch's default initialisation and the shuffles, from a seed ------------

  function generator(...seeds) { // mulberry32 seeded from a hash of the numbers
    let h = 2166136261;
    for (const s of seeds) h = Math.imul(h ^ (s >>> 0), 16777619) ^ (s >>> 16);
    return () => {
      h = (h + 0x6d2b79f5) | 0;
      let t = Math.imul(h ^ (h >>> 15), 1 | h);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // nn.Conv2d / nn.Linear's default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). One stream
  // per layer, so the networks with and without BN start from the same weights.
  function defaultInit(seed) {
    const init = {};
    Object.entries(LAYERS).forEach(([name, [kind, inputs, outputs]], index) => {
      const fanIn = kind === "conv" ? inputs * KERNEL * KERNEL : inputs;
      const bound = 1 / Math.sqrt(fanIn), random = generator(seed, index);
      const draw = (n) => Float32Array.from({ length: n }, () => (2 * random() - 1) * bound);
      init[name] = { weight: draw(fanIn * outputs), bias: draw(outputs) };
    });
    return init;
  }

  function shuffled(n, random) { // Fisher-Yates
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  // Batches of one epoch, as bnreview.data.batches cuts them: the last smaller batch is kept unless it holds one image.
  function batchesOf(order, size) {
    const out = [];
    for (let start = 0; start < order.length; start += size) {
      const part = order.slice(start, start + size);
      if (part.length < 2) break;
      out.push(part);
    }
    return out;
  }

  function stepsPerEpoch(n, size) { // bnreview.config.steps_per_epoch: full batches, and the last one unless it holds one image
    return Math.floor(n / size) + (n % size >= 2 ? 1 : 0);
  }

  // --- batch normalisation: Algorithms 1 and 2 of Ioffe & Szegedy (2015) ---------------------------

  function statsAxes(x) { return x.rank === 4 ? [0, 1, 2] : [0]; } // per channel: over the batch and every position

  // x * scale + shift, per channel, in one fused kernel: WASM's broadcasting multiply is 3x slower.
  // (The kernel computes (x - 0) * scale / sqrt(1 + 0) + shift: no rounding beyond x * scale + shift.)
  function channelAffine(x, scale, shift) {
    const c = x.shape[x.rank - 1];
    return tf.batchNorm(x, tf.zeros([c]), tf.ones([c]), shift, scale, 0);
  }

  // Algorithm 1, with the paper's backward pass written out as bnreview.batchnorm.BatchNormFunction
  // does (and as fast here: two per-channel reductions instead of autodiff's long chain).
  // Returns {y, mu_B, var_B, m}: the output, the batch statistics it was normalised with, and m, the
  // values per channel they were taken over (the caller folds them into the running averages).
  function bnTrain(x, gamma, beta, eps) {
    const axes = statsAxes(x);
    const mu_B = tf.mean(x, axes); //                         mu_B = 1/m sum_i x_i
    const var_B = tf.mean(tf.square(tf.sub(x, mu_B)), axes); // sigma_B^2 = 1/m sum_i (x_i - mu_B)^2, biased
    const m = x.size / x.shape[x.rank - 1]; //                values per channel: m' = m p q for a feature map
    // The op takes the statistics as constants: its gradient below is the paper's, which already
    // counts how they depend on x, so autodiff never goes back through the two reductions above.
    const normalise = tf.customGrad((z, g, b, save) => {
      const inv_std = tf.rsqrt(tf.add(var_B, eps)); //        s = 1 / sqrt(sigma_B^2 + eps)
      const x_hat = channelAffine(tf.sub(z, mu_B), inv_std, tf.zerosLike(inv_std)); // x_hat_i = (x_i - mu_B) s
      const y = channelAffine(x_hat, g, b); //                y_i = gamma x_hat_i + beta
      save([x_hat, inv_std, g]);
      return {
        value: y,
        gradFunc: (dy, [xh, s, gs]) => {
          const dgamma = tf.sum(tf.mul(dy, xh), axes); //     dl/dgamma = sum_i dl/dy_i x_hat_i
          const dbeta = tf.sum(dy, axes); //                  dl/dbeta = sum_i dl/dy_i
          const g_s = tf.mul(gs, s); //                       gamma s
          const k = tf.mul(g_s, -1 / m); //                   -gamma s / m
          // dl/dx_i = gamma s (dl/dy_i - dl/dbeta / m - x_hat_i dl/dgamma / m)
          const dx = tf.add(channelAffine(xh, tf.mul(k, dgamma), tf.mul(k, dbeta)), channelAffine(dy, g_s, tf.zerosLike(g_s)));
          return [dx, dgamma, dbeta];
        },
      };
    });
    return { y: normalise(x, gamma, beta), mu_B, var_B, m };
  }

  function bnEval(x, gamma, beta, mean, variance, eps) { // Algorithm 2: (x - E[x]) / sqrt(Var[x] + eps) gamma + beta
    return tf.batchNorm(x, mean, variance, beta, gamma, eps);
  }

  // running <- (1 - momentum) running + momentum batch, with the unbiased variance m/(m-1) sigma_B^2 (as torch.lerp_)
  function updatedRunning(mean, variance, stats, momentum) {
    const unbiased = tf.mul(stats.var_B, stats.m / (stats.m - 1));
    return [tf.add(mean, tf.mul(tf.sub(stats.mu_B, mean), momentum)),
            tf.add(variance, tf.mul(tf.sub(unbiased, variance), momentum))];
  }

  // --- LeNet -----------------------------------------------------------------------------------------

  // Two ops with their gradients written out, for the WASM backend (the fastest on CPUs):
  // * conv2d ("valid", stride 1): WASM has no Conv2DBackpropFilter kernel, and its conv2dTranspose
  //   is five times slower than a convolution. Both gradients are convolutions (XNNPACK's):
  //   dW[kh, kw, ci, co] = sum_{n,i,j} x[n, i+kh, j+kw, ci] dy[n, i, j, co] (x with its channels as the
  //   batch, convolved with dy with its batch as channels), and dx is dy, zero-padded, convolved with
  //   the filter rotated by 180 degrees. The first layer's dx (the images') is not needed: zeros.
  // * tanh(x) = 2 sigmoid(2x) - 1: WASM's sigmoid is vectorised, its tanh is not (4x slower); the
  //   gradient is tanh's own, dy (1 - tanh^2).
  const kernels = {};
  function convolution(inputGradient) {
    const key = inputGradient ? "conv" : "firstConv";
    kernels[key] = kernels[key] || tf.customGrad((x, w, save) => {
      save([x, w]);
      return {
        value: tf.conv2d(x, w, 1, "valid"),
        gradFunc: (dy, [xs, ws]) => {
          const [k, p] = [ws.shape[0], ws.shape[0] - 1];
          const dx = inputGradient
            ? tf.conv2d(tf.pad(dy, [[0, 0], [p, p], [p, p], [0, 0]]), tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]), 1, "valid")
            : tf.zerosLike(xs);
          const dw = tf.transpose(tf.conv2d(tf.transpose(xs, [3, 1, 2, 0]), tf.transpose(dy, [1, 2, 0, 3]), 1, "valid"), [1, 2, 0, 3]);
          return [dx, dw.reshape([k, k, xs.shape[3], dy.shape[3]])];
        },
      };
    });
    return kernels[key];
  }

  // 2x2 average pooling, stride 2 (even sides only: 28 and 10 here); its gradient spreads dy / 4 over
  // each 2x2 block, a nearest-neighbour upsampling (WASM's AvgPoolGrad is 3x slower).
  function pool(x) {
    kernels.pool = kernels.pool || tf.customGrad((z, save) => ({
      value: tf.avgPool(z, 2, 2, "valid"),
      gradFunc: (dy) => tf.mul(tf.image.resizeNearestNeighbor(dy, [z.shape[1], z.shape[2]]), 0.25),
    }));
    return kernels.pool(x);
  }

  function tanh(x) {
    kernels.tanh = kernels.tanh || tf.customGrad((z, save) => {
      const y = tf.sub(tf.mul(tf.sigmoid(tf.mul(z, 2)), 2), 1);
      save([y]);
      return { value: y, gradFunc: (dy, [ys]) => tf.mul(dy, tf.sub(1, tf.square(ys))) };
    });
    return kernels.tanh(x);
  }

  let networks = 0;
  class LeNet {
    // init: {layer: {weight, bias}} in TensorFlow.js layout (conv [kh, kw, in, out], dense [in, out]);
    // bn: {layer: {gamma, beta, mean, variance}} (optional) for the layers with BN.
    constructor(init, bnLayers, position, settings, bn = {}) {
      this.id = networks++;
      this.position = position;
      this.eps = settings.bn_eps;
      this.momentum = settings.bn_momentum;
      this.bnLayers = new Set(bnLayers);
      this.params = {};
      this.norms = {};
      const variable = (values, shape, name, trainable = true) =>
        tf.tidy(() => tf.variable(tf.tensor(values, shape), trainable, `lenet${this.id}/${name}`)); // frees the initial tensor
      for (const [name, [kind, inputs, outputs]] of Object.entries(LAYERS)) {
        const shape = kind === "conv" ? [KERNEL, KERNEL, inputs, outputs] : [inputs, outputs];
        const biased = !(this.bnLayers.has(name) && position === "before"); // BN's beta takes the bias's role
        this.params[name] = {
          weight: variable(init[name].weight, shape, name + ".weight"),
          bias: biased ? variable(init[name].bias, [outputs], name + ".bias") : null,
        };
        if (this.bnLayers.has(name)) {
          const given = bn[name] || {};
          const fill = (v) => new Float32Array(outputs).fill(v);
          this.norms[name] = {
            gamma: variable(given.gamma || fill(1), [outputs], name + ".gamma"),
            beta: variable(given.beta || fill(0), [outputs], name + ".beta"),
            mean: variable(given.mean || fill(0), [outputs], name + ".running_mean", false),
            variance: variable(given.variance || fill(1), [outputs], name + ".running_var", false),
          };
        }
      }
      this.trainable = [];
      for (const p of Object.values(this.params)) this.trainable.push(...[p.weight, p.bias].filter(Boolean));
      for (const n of Object.values(this.norms)) this.trainable.push(n.gamma, n.beta);
    }

    layer(name, x) {
      const { weight, bias } = this.params[name];
      let z;
      if (name === "conv3") { // a 5x5 filter on a 5x5 input is a dense layer on the flattened input ([kh, kw, in]: NHWC's order)
        z = tf.matMul(tf.reshape(x, [x.shape[0], -1]), tf.reshape(weight, [-1, weight.shape[3]]));
      } else {
        z = LAYERS[name][0] === "conv" ? convolution(name !== "conv1")(x, weight) : tf.matMul(x, weight);
      }
      return bias ? tf.add(z, bias) : z;
    }

    normalise(name, z, stats) {
      const n = this.norms[name];
      if (!stats) return bnEval(z, n.gamma, n.beta, n.mean, n.variance, this.eps);
      const { y, mu_B, var_B, m } = bnTrain(z, n.gamma, n.beta, this.eps);
      stats.push({ name, mu_B: tf.keep(mu_B), var_B: tf.keep(var_B), m }); // kept: the caller disposes them
      return y;
    }

    block(name, z, stats) { // the layer's tanh, with BN before or after it where asked for
      const bn = this.bnLayers.has(name);
      if (bn && this.position === "before") z = this.normalise(name, z, stats);
      let a = tanh(z);
      if (bn && this.position === "after") a = this.normalise(name, a, stats);
      return a;
    }

    // Logits for x [N, 32, 32, 1]; stats (a list) means training mode (each BN layer normalises with the
    // batch's own statistics) and collects those statistics, kept: the caller disposes them.
    forward(x, stats) {
      let h = pool(this.block("conv1", this.layer("conv1", x), stats)); // -> conv [N, 28, 28, 6] -> pool [N, 14, 14, 6]
      h = pool(this.block("conv2", this.layer("conv2", h), stats)); //      -> conv [N, 10, 10, 16] -> pool [N, 5, 5, 16]
      h = this.block("conv3", this.layer("conv3", h), stats); //            -> [N, 120]
      h = this.block("fc1", this.layer("fc1", h), stats); //                                     -> [N, 84]
      return this.layer("fc2", h); //                                                             -> [N, 10]
    }

    static crossEntropy(logits, oneHot) { // mean over the batch of -log softmax(logits)[label]
      return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)));
    }

    // One SGD step (no momentum) on a batch; returns the loss before the step (a scalar tensor).
    step(x, oneHot, lr) {
      const stats = [];
      const { value, grads } = tf.variableGrads(() => LeNet.crossEntropy(this.forward(x, stats), oneHot), this.trainable);
      tf.tidy(() => {
        for (const v of this.trainable) v.assign(tf.sub(v, tf.mul(grads[v.name], lr)));
        for (const s of stats) {
          const n = this.norms[s.name];
          const [mean, variance] = updatedRunning(n.mean, n.variance, s, this.momentum);
          n.mean.assign(mean);
          n.variance.assign(variance);
        }
      });
      tf.dispose(Object.values(grads));
      for (const s of stats) tf.dispose([s.mu_B, s.var_B]);
      return value;
    }

    // Mean loss and accuracy on a whole split, with a pause between forward passes so the page stays
    // responsive. By default in evaluation mode (Algorithm 2: BN with its running averages), in chunks
    // of EVAL_CHUNK images. With batchSize, BN in training mode instead, as
    // bnreview.experiments.what_bn_does.batch_stats_accuracy: the split in shuffled batches of that size
    // (a fixed shuffle; a last batch of one left out), each normalised with its own statistics; the
    // running averages are left as they were.
    async evaluate(split, inputSide, batchSize = null) {
      const chunks = batchSize ? batchesOf(shuffled(split.n, generator(TEST_SHUFFLE_SEED)), batchSize)
        : Array.from({ length: Math.ceil(split.n / EVAL_CHUNK) }, (_, c) =>
          Array.from({ length: Math.min(EVAL_CHUNK, split.n - c * EVAL_CHUNK) }, (_, i) => c * EVAL_CHUNK + i));
      let [lossSum, correct, seen] = [0, 0, 0];
      for (const indices of chunks) {
        const [x, y] = batch(split, indices, inputSide);
        const [loss, right] = tf.tidy(() => {
          const stats = batchSize ? [] : null;
          const logits = this.forward(x, stats);
          if (stats) for (const s of stats) tf.dispose([s.mu_B, s.var_B]);
          return [tf.mul(LeNet.crossEntropy(logits, y), indices.length),
                  tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), "float32"))];
        });
        lossSum += (await loss.data())[0];
        correct += (await right.data())[0];
        seen += indices.length;
        tf.dispose([x, y, loss, right]);
        await pause();
      }
      return { loss: lossSum / seen, acc: correct / seen };
    }

    dispose() {
      for (const p of Object.values(this.params)) tf.dispose([p.weight, p.bias].filter(Boolean));
      for (const n of Object.values(this.norms)) tf.dispose(Object.values(n));
    }
  }

  // --- PyTorch's tensors (reference.json) in TensorFlow.js layout ---------------------------------

  function decode(value) {
    const binary = atob(value.float32);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return { shape: value.shape, data: new Float32Array(bytes.buffer) };
  }

  function permuted(t, order) { // a transpose of a decoded tensor, in plain JS
    const shape = order.map((axis) => t.shape[axis]);
    const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    const out = new Float32Array(t.data.length);
    const index = new Array(shape.length).fill(0);
    for (let k = 0; k < out.length; k++) {
      let source = 0;
      for (let d = 0; d < shape.length; d++) source += index[d] * strides[order[d]];
      out[k] = t.data[source];
      for (let d = shape.length - 1; d >= 0 && ++index[d] === shape[d]; d--) index[d] = 0;
    }
    return { shape, data: out };
  }

  function fromTorch(state) { // conv [out, in, kh, kw] -> [kh, kw, in, out]; linear [out, in] -> [in, out]
    const get = (key) => (key in state ? decode(state[key]) : null);
    const init = {}, bn = {};
    for (const [name, [kind, , outputs]] of Object.entries(LAYERS)) {
      const w = get(name + ".weight");
      const b = get(name + ".bias");
      init[name] = {
        weight: permuted(w, kind === "conv" ? [2, 3, 1, 0] : [1, 0]).data,
        bias: b ? b.data : new Float32Array(outputs),
      };
      if (`bn.${name}.weight` in state) {
        bn[name] = { gamma: get(`bn.${name}.weight`).data, beta: get(`bn.${name}.bias`).data,
                     mean: get(`bn.${name}.running_mean`).data, variance: get(`bn.${name}.running_var`).data };
      }
    }
    return { init, bn };
  }

  const nhwc = (t) => (t.shape.length === 4 ? permuted(t, [0, 2, 3, 1]) : t);
  const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

  let reference = null;
  function loadReference() {
    reference = reference || fetch(DATA + "reference.json").then((r) => r.json());
    return reference;
  }

  // Train PyTorch's first steps again here, from its start and in its batch order; the relative
  // difference of every step loss, and of the running statistics at the end.
  async function replay(which, backend = "auto") {
    const used = await useBackend(backend);
    const [ref, data] = await Promise.all([loadReference(), loadData()]);
    const run = ref[which];
    const { init, bn } = fromTorch(run.initial);
    const net = new LeNet(init, run.bn_layers, run.config.bn_position, data.settings, bn);
    const size = run.config.batch_size, losses = [];
    for (let s = 0; s < ref.steps; s++) {
      const [x, y] = batch(data.train, run.order.slice(s * size, (s + 1) * size), data.settings.input_side);
      const loss = net.step(x, y, run.config.lr);
      losses.push((await loss.data())[0]);
      tf.dispose([x, y, loss]);
    }
    const relative = losses.map((l, i) => Math.abs(l - run.step_loss[i]) / Math.abs(run.step_loss[i]));
    let running = 0;
    for (const [name, n] of Object.entries(net.norms)) {
      running = Math.max(running, maxAbsDiff(await n.mean.data(), decode(run.final_running[`bn.${name}.running_mean`]).data),
        maxAbsDiff(await n.variance.data(), decode(run.final_running[`bn.${name}.running_var`]).data));
    }
    net.dispose();
    return { backend: used, losses, torch: run.step_loss, maxRelative: Math.max(...relative), runningMaxAbs: running };
  }

  // One BN layer of each kind on PyTorch's fixed batch: largest absolute differences of the training
  // output, the running statistics after it, and the evaluation output.
  async function checkBN(backend = "auto") {
    const used = await useBackend(backend);
    const [ref, data] = await Promise.all([loadReference(), loadData()]);
    const out = {};
    for (const [layer, c] of Object.entries(ref.bn_check)) {
      const x = nhwc(decode(c.x)), [gamma, beta] = [decode(c.gamma).data, decode(c.beta).data];
      const result = tf.tidy(() => {
        const xt = tf.tensor(x.data, x.shape);
        const g = tf.tensor1d(gamma), b = tf.tensor1d(beta);
        const train = bnTrain(xt, g, b, data.settings.bn_eps);
        const [mean, variance] = updatedRunning(tf.zeros([gamma.length]), tf.ones([gamma.length]), train, data.settings.bn_momentum);
        return [train.y, mean, variance, bnEval(xt, g, b, mean, variance, data.settings.bn_eps)].map((t) => t.dataSync());
      });
      out[layer] = {
        y_train: maxAbsDiff(result[0], nhwc(decode(c.y_train)).data),
        running_mean: maxAbsDiff(result[1], decode(c.running_mean).data),
        running_var: maxAbsDiff(result[2], decode(c.running_var).data),
        y_eval: maxAbsDiff(result[3], nhwc(decode(c.y_eval)).data),
      };
    }
    return { backend: used, layers: out };
  }

  // --- a training session: the chosen network and the baseline without BN, batch by batch ---------

  function diverging(losses, settings) { // bnreview.train.is_diverging
    const last = losses[losses.length - 1];
    const window = losses.slice(-settings.divergence_window);
    return !Number.isFinite(last) || window.reduce((a, b) => a + b, 0) / window.length > settings.divergence_loss;
  }

  // options: {lr, bnLayers, position, epochs, images, seed, backend}; onUpdate(session) after every
  // batch and epoch; stopRequested() is read before every batch.
  async function train(options, onUpdate, stopRequested) {
    const backend = await useBackend(options.backend || "auto");
    const data = await loadData();
    const settings = data.settings, side = settings.input_side;
    const init = defaultInit(options.seed);
    const specs = [{ label: `BN on ${options.bnLayers.join(", ")} (${options.position} tanh)`, bn: options.bnLayers }];
    if (!options.bnLayers.length) specs[0].label = "no BN";
    else specs.push({ label: "no BN", bn: [] });
    const session = {
      options, backend, images: options.images, testImages: data.test.n, stepsPerEpoch: stepsPerEpoch(options.images, settings.batch_size),
      runs: specs.map((s) => ({ label: s.label, bn: s.bn, net: new LeNet(init, s.bn, options.position, settings),
        losses: [], acc: [], batchAcc: s.bn.length ? [] : null, epochSeconds: [], diverged: null, divergedEpoch: null, seconds: 0 })),
      epoch: 0, step: 0, stopped: false, done: false,
    };
    const subset = { x: data.train.x, y: data.train.y, n: options.images };
    try {
      // Test accuracy as the book reports it (evaluation mode); for a network with BN, also with batch statistics.
      const evaluate = async (run) => {
        run.acc.push((await run.net.evaluate(data.test, side)).acc);
        if (run.batchAcc) run.batchAcc.push((await run.net.evaluate(data.test, side, settings.batch_size)).acc);
      };
      for (const run of session.runs) await evaluate(run); // epoch 0
      onUpdate(session);
      for (let epoch = 1; epoch <= options.epochs && !session.stopped; epoch++) {
        session.epoch = epoch;
        const order = shuffled(options.images, generator(options.seed, 1000 + epoch));
        for (const indices of batchesOf(order, settings.batch_size)) {
          if (stopRequested()) { session.stopped = true; break; }
          const live = session.runs.filter((r) => r.diverged === null);
          if (!live.length) break;
          const [x, y] = batch(subset, indices, side);
          for (const run of live) {
            const started = performance.now();
            const loss = run.net.step(x, y, options.lr);
            run.losses.push((await loss.data())[0]);
            run.seconds += (performance.now() - started) / 1000;
            loss.dispose();
            if (diverging(run.losses, settings)) [run.diverged, run.divergedEpoch] = [run.losses.length, epoch];
            await pause(); // after each network's step: the page never waits for more than one
          }
          tf.dispose([x, y]);
          session.step += 1;
          onUpdate(session);
        }
        for (const run of session.runs) { // a diverged run is evaluated once more, after the epoch it diverged in
          if (run.diverged !== null && run.divergedEpoch < epoch) continue;
          run.epochSeconds.push(run.seconds);
          run.seconds = 0;
          await evaluate(run);
        }
        onUpdate(session);
      }
    } finally {
      for (const run of session.runs) run.net.dispose();
    }
    session.done = !session.stopped;
    return session;
  }

  window.bnTrainer = { loadData, useBackend, replay, checkBN, train, defaultInit, batchesOf, diverging };
})();
