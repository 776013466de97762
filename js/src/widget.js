// toucan_nb progress widget (anywidget front end).
//
// Shows one prompt: a status line, an interrupt button, a table of nodes (state, value/max bar,
// display_node_id), the newest live preview and, at the end, the final images. The Python side
// (toucan_nb/notebook/widget.py) syncs the traits `status`, `message`, `executing`, `nodes`,
// `can_interrupt`, `prompt_id`, and the binary frames as traits too, so that a view rendered
// late still shows them (a custom message sent before a view listens is lost):
//   `preview` (bytes), `preview_mime`, `preview_node`   (newest wins, <= 15 per second)
//   `final_images` (list of PNG bytes)                 (thumbnails of the final images)
// The button sends {type: "interrupt"}. Everything a view sets up is released through one
// AbortController when the view goes away.

/**
 * @typedef {{
 *   node_id: string, display_node_id: string, title: string, class_type: string,
 *   state: string, value: number, max: number
 * }} NodeRow
 */

/**
 * The part of the anywidget model this view uses.
 * @typedef {{
 *   get(name: string): any,
 *   on(event: string, callback: (...args: any[]) => void): void,
 *   off(event?: string | null, callback?: ((...args: any[]) => void) | null): void,
 *   send(content: any, callbacks?: any, buffers?: Bytes[]): void
 * }} WidgetModel
 */

/** Binary message buffers (anywidget hands DataViews). @typedef {ArrayBuffer | ArrayBufferView<ArrayBuffer>} Bytes */

const STYLE = `
.toucan-progress { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 12px;
  color: var(--jp-ui-font-color1, #222); border: 1px solid var(--jp-border-color2, #ddd);
  border-radius: 4px; padding: 6px 8px; max-width: 720px; }
.toucan-progress .tp-head { display: flex; gap: 8px; align-items: center; margin-bottom: 4px; }
.toucan-progress .tp-status { font-weight: 600; text-transform: capitalize; }
.toucan-progress .tp-status[data-status="success"] { color: var(--jp-success-color1, #2e7d32); }
.toucan-progress .tp-status[data-status="error"] { color: var(--jp-error-color1, #c62828); }
.toucan-progress .tp-status[data-status="interrupted"],
.toucan-progress .tp-status[data-status="cancelled"] { color: var(--jp-warn-color1, #ef6c00); }
.toucan-progress .tp-id { color: var(--jp-ui-font-color2, #777); font-family: var(--jp-code-font-family, monospace); }
.toucan-progress .tp-hint { color: var(--jp-ui-font-color2, #777); }
.toucan-progress .tp-message { white-space: pre-wrap; color: var(--jp-error-color1, #c62828); margin: 2px 0; }
.toucan-progress table { border-collapse: collapse; width: 100%; }
.toucan-progress td { padding: 1px 4px; vertical-align: middle; }
.toucan-progress td.tp-nid { color: var(--jp-ui-font-color2, #777); width: 3em; text-align: right; }
.toucan-progress td.tp-state { width: 6em; }
.toucan-progress td.tp-bar { width: 40%; }
.toucan-progress progress { width: 100%; height: 10px; }
.toucan-progress tr[data-state="running"] { font-weight: 600; }
.toucan-progress tr[data-state="error"] td.tp-state { color: var(--jp-error-color1, #c62828); }
.toucan-progress tr[data-state="interrupted"] td.tp-state { color: var(--jp-warn-color1, #ef6c00); }
.toucan-progress tr[data-state="skipped"], .toucan-progress tr[data-state="cached"] { color: var(--jp-ui-font-color2, #777); }
.toucan-progress .tp-images { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 4px; }
.toucan-progress .tp-images img { max-width: 256px; max-height: 256px; image-rendering: auto; }
`;

const ACTIVE = new Set(["pending", "running"]);

/**
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElement}
 */
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A number for display: at most 2 decimals, integers as integers.
 * @param {number} value
 */
function formatNumber(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

/**
 * The table body rows for the `nodes` trait.
 * @param {HTMLTableSectionElement} body
 * @param {NodeRow[]} rows
 * @param {string} executing
 */
export function renderRows(body, rows, executing) {
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = /** @type {HTMLTableRowElement} */ (element("tr"));
      tr.dataset.nodeId = row.node_id;
      tr.dataset.state = row.node_id === executing && row.state === "pending" ? "running" : row.state;
      const max = row.max > 0 ? row.max : 1;
      const value = Math.min(Math.max(row.value, 0), max);
      const bar = /** @type {HTMLProgressElement} */ (element("progress"));
      bar.max = max;
      bar.value = row.state === "finished" || row.state === "cached" ? max : value;
      const barCell = element("td", "tp-bar");
      barCell.append(bar);
      tr.append(
        element("td", "tp-nid", row.display_node_id || row.node_id),
        element("td", "tp-title", row.title || row.class_type),
        element("td", "tp-state", tr.dataset.state),
        barCell,
        element("td", "tp-count", row.state === "running" ? `${formatNumber(value)}/${formatNumber(max)}` : ""),
      );
      return tr;
    }),
  );
}

/**
 * Render the widget into `el`; returns the cleanup anywidget calls when the view is removed.
 * @param {{ model: WidgetModel, el: HTMLElement }} context
 * @returns {() => void}
 */
export function render({ model, el }) {
  const controller = new AbortController();
  const { signal } = controller;
  /** @type {string[]} */
  let objectUrls = [];

  const root = element("div", "toucan-progress");
  const style = element("style");
  style.textContent = STYLE;
  const head = element("div", "tp-head");
  const status = element("span", "tp-status");
  const promptId = element("span", "tp-id");
  const button = /** @type {HTMLButtonElement} */ (element("button", "tp-interrupt", "Interrupt"));
  button.type = "button";
  const hint = element("span", "tp-hint", "stop the cell (\u25A0) to interrupt");
  head.append(status, promptId, button, hint);
  const message = element("div", "tp-message");
  const table = element("table");
  const body = /** @type {HTMLTableSectionElement} */ (element("tbody"));
  table.append(body);
  const images = element("div", "tp-images");
  const preview = /** @type {HTMLImageElement} */ (element("img", "tp-preview"));
  preview.alt = "live preview";
  preview.hidden = true;
  images.append(preview);
  root.append(style, head, message, table, images);
  el.replaceChildren(root);

  const update = () => {
    const state = String(model.get("status") || "pending");
    status.textContent = state;
    status.dataset.status = state;
    const id = String(model.get("prompt_id") || "");
    promptId.textContent = id ? id.slice(0, 8) : "";
    promptId.title = id;
    const active = ACTIVE.has(state);
    const canInterrupt = Boolean(model.get("can_interrupt"));
    button.hidden = !(active && canInterrupt);
    hint.hidden = !(active && !canInterrupt);
    const text = String(model.get("message") || "");
    message.textContent = text;
    message.hidden = !text;
    renderRows(body, model.get("nodes") || [], String(model.get("executing") || ""));
  };

  /**
   * @param {string} mime
   * @param {Bytes} buffer
   */
  const urlFor = (mime, buffer) => {
    const url = URL.createObjectURL(new Blob([buffer], { type: mime }));
    objectUrls.push(url);
    return url;
  };
  const releaseUrls = () => {
    for (const url of objectUrls) URL.revokeObjectURL(url);
    objectUrls = [];
  };

  // Frames are model state (not custom messages), so a view rendered late still shows them.
  const showPreview = () => {
    const data = model.get("preview");
    if (!data || data.byteLength === 0 || (model.get("final_images") || []).length > 0) return;
    const previous = objectUrls;
    objectUrls = [];
    preview.src = urlFor(String(model.get("preview_mime") || "image/jpeg"), data);
    preview.title = `preview of node ${model.get("preview_node") ?? ""}`;
    preview.hidden = false;
    for (const url of previous) URL.revokeObjectURL(url);
  };
  const showFinal = () => {
    /** @type {Bytes[]} */
    const buffers = model.get("final_images") || [];
    if (buffers.length === 0) return;
    releaseUrls();
    images.replaceChildren(
      ...buffers.map((buffer, i) => {
        const img = /** @type {HTMLImageElement} */ (element("img", "tp-final"));
        img.alt = `output image ${i + 1}`;
        img.src = urlFor("image/png", buffer);
        return img;
      }),
    );
  };

  button.addEventListener("click", () => model.send({ type: "interrupt" }), { signal });
  const traits = ["status", "message", "executing", "nodes", "can_interrupt", "prompt_id"];
  for (const name of traits) model.on(`change:${name}`, update);
  model.on("change:preview", showPreview);
  model.on("change:final_images", showFinal);
  signal.addEventListener("abort", () => {
    for (const name of traits) model.off(`change:${name}`, update);
    model.off("change:preview", showPreview);
    model.off("change:final_images", showFinal);
    releaseUrls();
  });
  update();
  showPreview();
  showFinal();
  return () => controller.abort();
}

export default { render };
