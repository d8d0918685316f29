/* Live code: run, edit and rerun every code cell of a chapter in the page.
 *
 * docs/_ext/live_code.py puts the sources of the cells that the chapter's notebook
 * download runs into #attnbook-live-config, one per div.attnbook-cell, in page order.
 * Run on a cell loads thebe (the Jupyter kernel client, vendored in _static/thebe/),
 * starts a kernel, runs every earlier cell that has not run in this kernel yet, in
 * order, stopping at the first error, then the cell; a cell that has run is an editor
 * (Shift-Enter runs it again). The page bar has Run all, Stop (interrupt) and Restart.
 *
 * Where the kernel comes from:
 * - `tox -e live` (tools/live.py) serves the book and a jupyter_server on 127.0.0.1 and
 *   prints a URL whose fragment holds the server's address and token:
 *   #kernel=http://127.0.0.1:PORT/&token=TOKEN. Any page of the book moves them to
 *   sessionStorage and removes them from the address bar; other tabs of the book are
 *   told (BroadcastChannel), so that a tab opened before a restart picks up the new
 *   token. Only loopback addresses are accepted.
 * - On the hosted book, where the repository is on GitHub, Binder on the reader's click.
 * Nothing is requested from a kernel server before a reader clicks Run; without one,
 * the page says at once (or, for a server that does not answer, within seconds) what
 * to start, and the next click tries again, without a reload.
 */
(() => {
  "use strict";

  const STORAGE_KEY = "attnbook-live-kernel";
  const CHANNEL = "attnbook-live";
  const PROBE_TIMEOUT_MS = 2500;
  const START_TIMEOUT_MS = 60000;
  const LOST_AFTER_MS = 10000; // a running cell's kernel unreachable this long is gone
  const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
  // outputs that would make thebe fetch more code: the JSON viewer (a lazily loaded
  // chunk, not vendored) and ipywidgets (require.js from a CDN); they show as text
  // run silently in every new kernel (no execution count): figures show as PNG, as in
  // the book (whose build runs the same line in a hidden cell); the plotting helpers
  // return matplotlib Figures without pyplot, which a kernel otherwise shows as text
  const KERNEL_SETUP = "%matplotlib inline";
  const NO_RENDERER = ["application/json", "text/jsonl", "application/jsonl",
    "application/json-lines", "application/vnd.jupyter.widget-view+json"];

  // -- the kernel server's address and token: URL fragment -> sessionStorage ---------

  function connectionFrom(kernel, token) {
    if (!kernel || !token || /\s/.test(token)) return null;
    let url;
    try {
      url = new URL(kernel);
    } catch (error) {
      return null;
    }
    if (!["http:", "https:"].includes(url.protocol) || !LOOPBACK.has(url.hostname)) return null;
    const base = url.origin + (url.pathname.endsWith("/") ? url.pathname : url.pathname + "/");
    return { url: base, token };
  }

  function storedConnection() {
    try {
      const value = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
      return value && connectionFrom(value.url, value.token);
    } catch (error) {
      return null;
    }
  }

  function storeConnection(connection) {
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(connection));
    } catch (error) {
      // storage disabled: the connection lasts as long as this page
    }
    memoryConnection = connection;
  }

  let memoryConnection = null;
  let fragmentProblem = null; // why the kernel address in this page's URL was not used
  let channel = null;
  try {
    channel = new BroadcastChannel(CHANNEL);
    channel.onmessage = (event) => {
      const connection = event.data && connectionFrom(event.data.url, event.data.token);
      if (connection) storeConnection(connection);
    };
  } catch (error) {
    channel = null;
  }

  function takeConnectionFromFragment() {
    const fragment = window.location.hash.slice(1);
    if (!/(^|&)kernel=/.test(fragment)) return;
    const params = new URLSearchParams(fragment);
    // out of the address bar and the history entry, valid or not
    history.replaceState(history.state, "", window.location.pathname + window.location.search);
    const connection = connectionFrom(params.get("kernel"), params.get("token"));
    if (!connection) {
      fragmentProblem = !params.get("token")
        ? "The address of this page named a kernel server but no token. "
        : "The address of this page named a kernel server this page does not use (only " +
          "one on this machine, 127.0.0.1, with a token). ";
      return;
    }
    storeConnection(connection);
    fragmentProblem = null;
    if (channel) channel.postMessage(connection);
  }
  takeConnectionFromFragment();
  // the URL pasted into the address bar of the page it names only changes the fragment
  window.addEventListener("hashchange", takeConnectionFromFragment);

  // -- a chapter page ---------------------------------------------------------------------

  const configElement = document.getElementById("attnbook-live-config");
  if (!configElement) return;
  const config = JSON.parse(configElement.textContent);
  const cellElements = Array.from(document.querySelectorAll("div.attnbook-cell"));
  if (cellElements.length !== config.cells.length) return; // checked by the build

  const state = {
    session: null, // thebe's session while a kernel is attached
    connection: null, // the local server's address and token (null: Binder)
    notebook: null,
    rendermime: null,
    where: null, // the kernel's address, in words
    useBinder: false,
    generation: 0, // bumped by Stop and Restart: queued runs of an older one are dropped
    queue: Promise.resolve(),
    thebe: null, // promise: thebe's script and style loaded
  };

  // a kernel of its own for each page view (the server keeps one session per path)
  const sessionPath = config.notebook.replace(/\.ipynb$/, "") + "-" +
    Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("") +
    ".ipynb";

  const cells = config.cells.map((cell, index) => ({
    index,
    id: `attnbook-cell-${index}`,
    source: cell.source,
    input: cell.input,
    element: cellElements[index],
    ran: false, // ran without error in the current kernel
    rendered: false,
    count: null,
    countElement: null,
    output: null,
  }));

  // -- small DOM helpers --------------------------------------------------------------------

  function element(tag, attributes = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function code(text) {
    return element("code", { className: "docutils literal notranslate", text });
  }

  function button(label, action, title) {
    return element("button", { type: "button", className: "attnbook-live-button",
      "data-action": action, title, text: label });
  }

  // -- the page bar and the per-cell controls ------------------------------------------------

  const bar = element("div", { className: "attnbook-live-bar", role: "region",
    "aria-label": "Run the code of this page" });
  const runAllButton = button("▶ Run all", "run-all", "Run every cell of this page, from the top");
  const stopButton = button("■ Stop", "stop", "Interrupt the running cell");
  const restartButton = button("↻ Restart", "restart",
    "Start a fresh kernel: afterwards no cell counts as run");
  stopButton.disabled = restartButton.disabled = true;
  const statusElement = element("span", { className: "attnbook-live-status", role: "status",
    text: "Code cells run here: click ▶ Run on any cell." });
  const help = element("details", { className: "attnbook-live-help" }, [
    element("summary", { text: "How running code in the page works" }),
    element("p", {}, [
      "▶ Run runs a cell in a Python kernel, after every earlier cell of the page that ",
      "has not run in that kernel yet (in order; an error stops them). A cell that has run ",
      "is an editor: change it and run it again (Shift-Enter). Run all runs every cell from ",
      "the top, Stop interrupts the running cell, Restart starts a fresh kernel. The page ",
      "runs the cells of the chapter's notebook download, not the book's hidden checks; ",
      "edits live in this page only (a reload brings back the book's code).",
    ]),
    element("p", {}, [
      "On your machine: in a clone of the repository, ", code(config.command),
      " builds the book if needed, serves it with a Jupyter kernel of that environment (the ",
      "real attnbook and PyTorch) and prints one URL to open; Ctrl-C stops both. The kernel ",
      "listens on 127.0.0.1 only, with a new token each start, and stops after 15 minutes ",
      "without use.",
    ]),
  ]);
  if (config.binder) {
    help.append(element("p", {}, [
      "On the hosted book: Binder (mybinder.org) can start a kernel from the repository. It ",
      "builds the repository's environment, which takes several minutes the first time, ",
      "and your code then runs on Binder's servers.",
    ]));
  }
  bar.append(element("div", { className: "attnbook-live-controls" },
    [runAllButton, stopButton, restartButton, statusElement]), help);
  // the chapter's title (the theme also has a print-only copy of it, outside a section)
  const heading = document.querySelector("article section > h1, [role='main'] section > h1");
  if (heading) heading.after(bar);
  else cellElements[0].before(bar);

  const notice = element("div", { className: "attnbook-live-notice", role: "alert" });
  notice.hidden = true;

  for (const cell of cells) {
    cell.countElement = element("span", { className: "attnbook-live-count",
      title: "execution count in the current kernel", text: "[ ]" });
    const run = button("▶ Run", "run",
      "Run this cell (after the earlier cells that have not run yet)");
    run.setAttribute("aria-label", `Run cell ${cell.index + 1} of ${cells.length}`);
    // while the cell runs, its button stops it
    run.addEventListener("click", () => (cell.element.dataset.liveState === "running"
      ? stop() : runUpTo(cell.index, cell)));
    cell.runButton = run;
    const cellBar = element("div", { className: "attnbook-live-cellbar" },
      [cell.countElement, run]);
    const input = cell.element.querySelector(".cell_input");
    if (input) input.prepend(cellBar);
    else cell.element.prepend(cellBar);
    cell.cellBar = cellBar;
  }

  // leaving the page ends its kernel (a kernel left behind is culled after 15 minutes)
  window.addEventListener("pagehide", () => {
    const connection = state.connection;
    if (!state.session || !connection) return; // Binder stops its own idle kernels
    fetch(new URL(`api/sessions/${state.session.id}`, connection.url), {
      method: "DELETE", keepalive: true, credentials: "omit",
      headers: { Authorization: `token ${connection.token}` },
    }).catch(() => null);
  });

  runAllButton.addEventListener("click", () => runAll());
  stopButton.addEventListener("click", () => stop());
  restartButton.addEventListener("click", () => restart());

  function setStatus(text) {
    statusElement.textContent = text;
  }

  function setCount(cell, value) {
    cell.count = value;
    cell.countElement.textContent = `[${value === null ? " " : value}]`;
    if (value === null) delete cell.element.dataset.executionCount;
    else if (value !== "*") cell.element.dataset.executionCount = String(value);
  }

  function setCellState(cell, value) {
    cell.element.dataset.liveState = value;
    const running = value === "running";
    cell.runButton.textContent = running ? "■ Stop" : "▶ Run";
    cell.runButton.title = running ? "Interrupt this cell"
      : "Run this cell (after the earlier cells that have not run yet)";
  }

  // -- messages ---------------------------------------------------------------------------------

  function say(where, parts, actions = []) {
    notice.replaceChildren(element("p", {}, parts));
    if (actions.length) notice.append(element("p", {}, actions));
    notice.hidden = false;
    (where ? where.cellBar : bar).after(notice);
  }

  function quiet() {
    notice.hidden = true;
  }

  function startLocally(again = true) {
    return ["In a clone of the repository, run ", code(config.command),
      again ? " and open the URL it prints (if it is only starting, click Run again in a moment)."
        : " and open the URL it prints: the book, served with a kernel of your own."];
  }

  function binderActions(where) {
    if (!config.binder) return [];
    const start = button("Start a kernel on Binder", "binder",
      "Binder builds the repository's environment: minutes the first time");
    start.addEventListener("click", () => {
      state.useBinder = true;
      quiet();
      if (where) runUpTo(where.index, where);
      else runAll();
    });
    return [start, " (mybinder.org builds the repository's environment: several minutes the " +
      "first time; the code then runs on Binder's servers)."];
  }

  function noKernelMessage(where) {
    if (window.location.protocol === "file:") {
      return say(where, ["This page was opened as a file, so no kernel can talk to it. ",
        ...startLocally(false)]);
    }
    return say(where, [element("strong", { text: "No kernel is connected to this page. " }),
      ...(fragmentProblem && !storedConnection() ? [fragmentProblem] : []),
      ...startLocally(false)], binderActions(where));
  }

  // -- the kernel server --------------------------------------------------------------------------

  async function probe(connection) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
    try {
      const response = await fetch(new URL("api/status", connection.url), {
        headers: { Authorization: `token ${connection.token}` },
        cache: "no-store", credentials: "omit", signal: controller.signal,
      });
      if (response.status === 401 || response.status === 403) return "token";
      return response.ok ? null : `status ${response.status}`;
    } catch (error) {
      return error.name === "AbortError" ? "timeout" : "unreachable";
    } finally {
      clearTimeout(timer);
    }
  }

  function probeMessage(problem, connection, where) {
    const at = connection.url;
    if (problem === "token") {
      return say(where, [element("strong", { text: `The kernel server at ${at} refused this page's token. ` }),
        "The token changes each time ", code(config.command), " starts: open the URL it printed ",
        "last (opening it in another tab also gives it to this one), then click Run again."]);
    }
    if (problem === "timeout") {
      return say(where, [element("strong", { text: `The kernel server at ${at} did not answer within ${PROBE_TIMEOUT_MS / 1000} s. ` }),
        "Is it still starting? Click Run again in a moment, or restart ", code(config.command), "."]);
    }
    if (problem === "unreachable") {
      return say(where, [element("strong", { text: `No kernel server answers at ${at}. ` }),
        "It is not running (any more), or it does not serve this page's address. ",
        ...startLocally()], binderActions(where));
    }
    return say(where, [element("strong", { text: `The kernel server at ${at} answered with ${problem}. ` }),
      ...startLocally()]);
  }

  function loadThebe() {
    if (state.thebe) return state.thebe;
    const script = new Promise((resolve, reject) => {
      const tag = element("script", { src: config.thebe });
      tag.onload = resolve;
      tag.onerror = () => reject(new Error(`could not load ${config.thebe}`));
      document.head.append(tag);
    });
    // thebe.css also restyles every <pre>/<code> of the page; its rules that select bare
    // elements are dropped before the sheet applies (media print until then)
    const style = new Promise((resolve, reject) => {
      const link = element("link", { rel: "stylesheet", href: config.thebeCss, media: "print" });
      link.onload = () => {
        const rules = link.sheet.cssRules;
        for (let i = rules.length - 1; i >= 0; i -= 1) {
          const selector = rules[i].selectorText;
          if (selector && selector.split(",").every((part) => /^\s*[a-z]+\s*$/.test(part))) {
            link.sheet.deleteRule(i);
          }
        }
        link.media = "all";
        resolve();
      };
      link.onerror = () => reject(new Error(`could not load ${config.thebeCss}`));
      document.head.append(link);
    });
    state.thebe = Promise.all([script, style]).catch((error) => {
      state.thebe = null;
      throw error;
    });
    return state.thebe;
  }

  function thebeOptions(connection) {
    return {
      useBinder: !connection,
      requestKernel: true,
      mathjaxUrl: "", // no CDN: text/latex outputs show as text
      mountStatusWidget: false,
      mountActivateWidget: false,
      mountRunButton: false,
      mountRunAllButton: false,
      mountRestartButton: false,
      mountRestartAllButton: false,
      codeMirrorConfig: { lineNumbers: true, viewportMargin: Infinity, indentUnit: 4 },
      kernelOptions: { kernelName: config.kernelName, path: sessionPath },
      ...(connection
        ? { serverSettings: { baseUrl: connection.url, token: connection.token, appendToken: true } }
        : { binderOptions: config.binder }),
    };
  }

  function withTimeout(promise, ms, what) {
    if (!ms) return promise;
    let timer;
    const timeout = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took more than ${ms / 1000} s`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  function kernel() {
    return state.session && state.session.kernel;
  }

  function kernelAlive() {
    const k = kernel();
    return Boolean(k && !k.isDisposed && k.status !== "dead" &&
      k.connectionStatus !== "disconnected");
  }

  // Resolves whether the kernel's websocket is (or, within ms, gets) connected.
  function connected(k, ms) {
    if (k.connectionStatus === "connected") return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value) => {
        clearTimeout(timer);
        k.connectionStatusChanged.disconnect(changed);
        resolve(value);
      };
      const changed = (_, status) => {
        if (status === "connected") done(true);
        else if (status === "disconnected") done(false);
      };
      const timer = setTimeout(() => done(k.connectionStatus === "connected"), ms);
      k.connectionStatusChanged.connect(changed);
    });
  }

  function forgetKernel() {
    if (state.session) {
      try {
        state.session.dispose(); // also ends the client's attempts to reconnect
      } catch (error) {
        // already disposed
      }
    }
    state.session = null;
    stopButton.disabled = restartButton.disabled = true;
    for (const cell of cells) {
      cell.ran = false;
      if (cell.count !== null) setCount(cell, null);
    }
  }

  async function setUpKernel(k) {
    try {
      await k.requestExecute({ code: KERNEL_SETUP, silent: true, store_history: false }).done;
    } catch (error) {
      // a kernel that cannot show figures still runs the code
    }
  }

  function onKernelStatus(_, status) {
    if (status === "busy") setStatus(`Running… (kernel: ${state.where})`);
    else if (status === "idle") setStatus(`Kernel ready (${state.where}).`);
    else if (status === "restarting" || status === "autorestarting") setStatus("Restarting the kernel…");
    else if (status === "dead") setStatus("The kernel stopped. Click Run to start a new one.");
  }

  async function startSession(connection, where) {
    await loadThebe();
    const api = window.thebeCore.api;
    const options = thebeOptions(connection);
    const thebeConfig = api.makeConfiguration(options, window.thebe.events);
    if (!state.notebook) {
      state.rendermime = api.makeRenderMimeRegistry(thebeConfig.mathjax);
      state.notebook = api.setupNotebookFromBlocks(
        cells.map((cell) => ({ id: cell.id, source: cell.source })), thebeConfig, state.rendermime);
    }
    for (const type of NO_RENDERER) state.rendermime.removeMimeType(type);
    let unlisten = null;
    if (!connection) {
      unlisten = window.thebe.events.on("status", (_, data) => {
        if (data && data.message) setStatus(`Binder: ${data.message}`);
      });
    }
    try {
      const server = connection ? api.connectToJupyter(thebeConfig) : api.connectToBinder(thebeConfig);
      await withTimeout(server.ready, connection ? START_TIMEOUT_MS : 0, "connecting");
      const session = await withTimeout(server.startNewSession(state.rendermime),
        START_TIMEOUT_MS, "starting a kernel");
      if (!session || !session.kernel) throw new Error("the server started no kernel");
      if (!(await connected(session.kernel, START_TIMEOUT_MS))) {
        session.dispose();
        throw new Error("the kernel's websocket did not connect");
      }
      for (const type of NO_RENDERER) state.rendermime.removeMimeType(type);
      await setUpKernel(session.kernel);
      state.notebook.attachSession(session);
      state.session = session;
      state.connection = connection;
      state.where = connection ? connection.url.replace(/\/$/, "") : "Binder";
      session.kernel.statusChanged.connect(onKernelStatus);
      stopButton.disabled = restartButton.disabled = false;
      for (const cell of cells) cell.ran = false;
      setStatus(`Kernel ready (${state.where}).`);
    } finally {
      if (unlisten) unlisten();
    }
  }

  // Whether the local server still has the page's kernel: a culled kernel's websocket
  // can look connected for a moment after the server stopped it.
  async function kernelListed() {
    const connection = state.connection;
    if (!connection) return true; // Binder
    try {
      const response = await fetch(new URL("api/kernels", connection.url), {
        headers: { Authorization: `token ${connection.token}` },
        cache: "no-store", credentials: "omit",
      });
      if (!response.ok) return false;
      return (await response.json()).some((model) => model.id === kernel().id);
    } catch (error) {
      return false;
    }
  }

  // Resolves true once a kernel is attached; false after saying why there is none.
  async function ensureKernel(where) {
    // a kernel whose connection is down (its server stopped, or it was culled) for a
    // few seconds is replaced: the earlier cells then run again in the new one
    if (kernelAlive() && (await connected(kernel(), 2000)) && (await kernelListed())) return true;
    const lost = Boolean(state.session);
    if (lost) forgetKernel();
    const connection = state.useBinder ? null : (storedConnection() || memoryConnection);
    if (!connection && !state.useBinder) {
      setStatus("No kernel.");
      noKernelMessage(where);
      return false;
    }
    setStatus(connection ? `Connecting to ${connection.url}…` : "Starting a kernel on Binder…");
    if (connection) {
      const problem = await probe(connection);
      if (problem) {
        setStatus("No kernel.");
        probeMessage(problem, connection, where);
        return false;
      }
    }
    try {
      await startSession(connection, where);
    } catch (error) {
      setStatus("No kernel.");
      say(where, [element("strong", { text: "No kernel could be started. " }),
        String((error && error.message) || error), ". ", ...startLocally()]);
      return false;
    }
    if (lost) {
      say(where, ["The earlier kernel had stopped (a kernel is stopped after 15 minutes ",
        "without use, or when its server stops): this is a new one, so the earlier cells run ",
        "again first."]);
    } else {
      quiet();
    }
    return true;
  }

  // -- running cells ----------------------------------------------------------------------------

  function renderCell(cell) {
    if (cell.rendered) return;
    const output = element("div", { className: "attnbook-live-output" });
    const input = cell.element.querySelector(".cell_input");
    if (input) input.after(output);
    else cell.cellBar.after(output);
    const thebeCell = state.notebook.getCellById(cell.id);
    if (cell.input && input) {
      const shown = input.querySelector("div[class^='highlight-'], div.highlight");
      const placeholder = element("div");
      if (shown) {
        shown.before(placeholder);
        shown.hidden = true;
      } else {
        input.append(placeholder);
      }
      window.thebe.renderAllCells(thebeOptions(null), state.notebook,
        [{ id: cell.id, placeholders: { source: placeholder, output } }]);
      const editor = input.querySelector(".CodeMirror");
      const codeMirror = editor && editor.CodeMirror;
      if (codeMirror) {
        codeMirror.setOption("extraKeys", { ...codeMirror.getOption("extraKeys"),
          "Shift-Enter": () => runUpTo(cell.index, cell) });
        codeMirror.getInputField().setAttribute("aria-label",
          `Code of cell ${cell.index + 1}, editable`);
      }
    } else {
      thebeCell.attachToDOM(output);
    }
    cell.output = output;
    cell.rendered = true;
  }

  // Watches a kernel while a cell runs: `lost` resolves if it dies, or if its connection
  // stays down for LOST_AFTER_MS (culled, or its server stopped), since the cell's reply
  // will then never come.
  function watchForLoss(k) {
    let timer = null;
    let resolveLost;
    const lost = new Promise((resolve) => {
      resolveLost = resolve;
    });
    const check = () => {
      if (k.isDisposed || k.status === "dead" || k.connectionStatus === "disconnected") {
        resolveLost(true);
      } else if (k.connectionStatus !== "connected") {
        if (!timer) timer = setTimeout(() => resolveLost(true), LOST_AFTER_MS);
      } else if (timer) {
        clearTimeout(timer);
        timer = null;
      }
    };
    k.statusChanged.connect(check);
    k.connectionStatusChanged.connect(check);
    check();
    return {
      lost,
      stop() {
        clearTimeout(timer);
        k.statusChanged.disconnect(check);
        k.connectionStatusChanged.disconnect(check);
      },
    };
  }

  async function execute(cell, generation) {
    if (generation !== state.generation || !kernelAlive()) return false;
    renderCell(cell);
    const thebeCell = state.notebook.getCellById(cell.id);
    const staticOutput = cell.element.querySelector(".cell_output");
    if (staticOutput) staticOutput.hidden = true;
    setCount(cell, "*");
    setCellState(cell, "running");
    const k = kernel();
    const future = k.requestExecute({ code: thebeCell.source, stop_on_error: true });
    thebeCell.area.future = future; // the output area shows what the kernel sends
    const watch = watchForLoss(k);
    let reply = null;
    let lost = false;
    try {
      reply = await Promise.race([future.done, watch.lost.then(() => {
        lost = true;
        return null;
      })]);
    } catch (error) {
      reply = null; // cancelled: the kernel restarted
    } finally {
      watch.stop();
    }
    if (lost) {
      forgetKernel();
      setStatus("No kernel.");
      say(cell, [element("strong", { text: "The kernel stopped while this cell ran. " }),
        "Its server stopped, or the kernel was stopped. Click Run to start a new kernel ",
        "(the earlier cells run again first)."]);
    }
    const ok = Boolean(reply && reply.content.status === "ok");
    const count = reply && reply.content.execution_count;
    setCount(cell, typeof count === "number" ? count : null);
    setCellState(cell, ok ? "done" : "error");
    cell.ran = ok;
    return ok;
  }

  function enqueue(task) {
    const generation = state.generation;
    const run = state.queue.then(() => (generation === state.generation ? task(generation) : null));
    state.queue = run.catch(() => null);
    return run;
  }

  function runUpTo(index, where) {
    return enqueue(async (generation) => {
      if (!(await ensureKernel(where))) return;
      for (const cell of cells.slice(0, index)) {
        if (!cell.ran && !(await execute(cell, generation))) return;
      }
      await execute(cells[index], generation);
    });
  }

  function runAll() {
    return enqueue(async (generation) => {
      if (!(await ensureKernel(null))) return;
      for (const cell of cells) {
        if (!(await execute(cell, generation))) return;
      }
    });
  }

  async function stop() {
    state.generation += 1;
    if (kernelAlive()) {
      setStatus("Interrupting…");
      await kernel().interrupt();
    }
  }

  async function restart() {
    state.generation += 1;
    if (!kernel()) return;
    restartButton.disabled = true;
    setStatus("Restarting the kernel…");
    try {
      await state.session.restart();
      await setUpKernel(kernel());
      for (const cell of cells) {
        cell.ran = false;
        setCount(cell, null);
        if (cell.element.dataset.liveState) setCellState(cell, "stale");
      }
      setStatus(`Kernel ready (${state.where}).`);
      say(null, ["Kernel restarted: no cell has run in it yet. ▶ Run on a cell runs the ",
        "earlier cells first."]);
    } catch (error) {
      forgetKernel();
      setStatus("The kernel could not restart. Click Run to start a new one.");
    } finally {
      restartButton.disabled = !kernel();
    }
  }
})();
