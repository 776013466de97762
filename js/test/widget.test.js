// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import widget, { render } from "../src/widget.js";

/** A stand-in for the anywidget model: traits, change events, sent messages. */
function fakeModel(initial) {
  const state = { ...initial };
  const listeners = new Map();
  const sent = [];
  return {
    get: (name) => state[name],
    set(name, value) {
      state[name] = value;
      for (const cb of listeners.get(`change:${name}`) ?? []) cb();
    },
    on(event, cb) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(cb);
    },
    off(event, cb) {
      listeners.get(event)?.delete(cb);
    },
    send(content, callbacks, buffers) {
      sent.push({ content, buffers });
    },
    /** What the Python side does for a frame: the mime and node first, then the bytes. */
    setPreview(mime, node, data) {
      state.preview_mime = mime;
      state.preview_node = node;
      this.set("preview", data);
    },
    listenerCount() {
      let n = 0;
      for (const set of listeners.values()) n += set.size;
      return n;
    },
    sent,
  };
}

const rows = [
  { node_id: "1", display_node_id: "1", title: "Empty Image", class_type: "EmptyImage", state: "finished", value: 1, max: 1 },
  { node_id: "2", display_node_id: "2", title: "KSampler", class_type: "KSampler", state: "running", value: 3, max: 20 },
  { node_id: "3", display_node_id: "3", title: "Save Image", class_type: "SaveImage", state: "pending", value: 0, max: 1 },
];

let el;
let urls;
beforeEach(() => {
  el = document.createElement("div");
  document.body.append(el);
  urls = { created: [], revoked: [] };
  let n = 0;
  // jsdom has no object URLs; record what the view creates and releases.
  URL.createObjectURL = vi.fn((blob) => {
    const url = `blob:fake/${++n}`;
    urls.created.push({ url, blob });
    return url;
  });
  URL.revokeObjectURL = vi.fn((url) => urls.revoked.push(url));
});
afterEach(() => el.remove());

describe("render", () => {
  it("is the module's default export too", () => {
    expect(widget.render).toBe(render);
  });

  it("shows one row per node with its state, id, title and bar", () => {
    const model = fakeModel({ status: "running", prompt_id: "abcdef123456", nodes: rows, executing: "2", can_interrupt: true, message: "" });
    render({ model, el });
    const trs = el.querySelectorAll("tbody tr");
    expect(trs).toHaveLength(3);
    expect([...trs].map((tr) => tr.dataset.state)).toEqual(["finished", "running", "pending"]);
    expect(trs[1].querySelector(".tp-title").textContent).toBe("KSampler");
    expect(trs[1].querySelector(".tp-nid").textContent).toBe("2");
    expect(trs[1].querySelector(".tp-count").textContent).toBe("3/20");
    const bar = trs[1].querySelector("progress");
    expect(bar.max).toBe(20);
    expect(bar.value).toBe(3);
    expect(trs[0].querySelector("progress").value).toBe(1);
    expect(el.querySelector(".tp-status").textContent).toBe("running");
    expect(el.querySelector(".tp-id").textContent).toBe("abcdef12");
  });

  it("labels rows by display_node_id for expanded nodes", () => {
    const model = fakeModel({ status: "running", nodes: [{ node_id: "5.0.0.1", display_node_id: "5", title: "Loop [5.0.0.1]", class_type: "", state: "running", value: 0.5, max: 1 }], executing: "", can_interrupt: true });
    render({ model, el });
    expect(el.querySelector(".tp-nid").textContent).toBe("5");
    expect(el.querySelector(".tp-count").textContent).toBe("0.50/1");
  });

  it("follows trait changes", () => {
    const model = fakeModel({ status: "pending", nodes: [], executing: "", can_interrupt: true, message: "" });
    render({ model, el });
    expect(el.querySelectorAll("tbody tr")).toHaveLength(0);
    model.set("nodes", rows);
    expect(el.querySelectorAll("tbody tr")).toHaveLength(3);
    model.set("message", "KSampler (node 2): boom");
    model.set("status", "error");
    expect(el.querySelector(".tp-message").textContent).toBe("KSampler (node 2): boom");
    expect(el.querySelector(".tp-message").hidden).toBe(false);
    expect(el.querySelector(".tp-status").dataset.status).toBe("error");
  });

  it("offers the interrupt button only while the prompt is active and the kernel can hear it", () => {
    const model = fakeModel({ status: "running", nodes: [], executing: "", can_interrupt: true });
    render({ model, el });
    const button = el.querySelector("button.tp-interrupt");
    const hint = el.querySelector(".tp-hint");
    expect(button.hidden).toBe(false);
    expect(hint.hidden).toBe(true);
    button.click();
    expect(model.sent).toEqual([{ content: { type: "interrupt" }, buffers: undefined }]);
    model.set("can_interrupt", false);
    expect(button.hidden).toBe(true);
    expect(hint.hidden).toBe(false);
    model.set("status", "success");
    expect(button.hidden).toBe(true);
    expect(hint.hidden).toBe(true);
  });

  it("shows the newest preview from binary buffers and releases the older one", () => {
    const model = fakeModel({ status: "running", nodes: [], executing: "", can_interrupt: true });
    render({ model, el });
    const img = el.querySelector("img.tp-preview");
    expect(img.hidden).toBe(true);
    const frame = new DataView(new Uint8Array([0xff, 0xd8, 0xff]).buffer);
    model.setPreview("image/jpeg", "2", frame);
    expect(img.hidden).toBe(false);
    expect(img.getAttribute("src")).toBe("blob:fake/1");
    expect(img.title).toBe("preview of node 2");
    expect(urls.created[0].blob.type).toBe("image/jpeg");
    expect(urls.created[0].blob.size).toBe(3);
    model.setPreview("image/jpeg", "2", frame);
    expect(img.getAttribute("src")).toBe("blob:fake/2");
    expect(urls.revoked).toEqual(["blob:fake/1"]);
  });

  it("a view rendered after the frames were sent still shows them", () => {
    const frame = new DataView(new Uint8Array([0x89, 0x50, 0x4e]).buffer);
    const model = fakeModel({ status: "running", nodes: [], executing: "", can_interrupt: true,
                              preview: frame, preview_mime: "image/png", preview_node: "4" });
    render({ model, el });
    const img = el.querySelector("img.tp-preview");
    expect(img.hidden).toBe(false);
    expect(urls.created[0].blob.type).toBe("image/png");
    const late = document.createElement("div");
    render({ model: fakeModel({ status: "success", nodes: [], final_images: [frame, frame] }), el: late });
    expect(late.querySelectorAll("img.tp-final")).toHaveLength(2);
  });

  it("shows nothing for an empty frame", () => {
    const model = fakeModel({ status: "running", nodes: [], executing: "", can_interrupt: true });
    render({ model, el });
    model.setPreview("image/png", "2", new DataView(new ArrayBuffer(0)));
    expect(urls.created).toHaveLength(0);
    expect(el.querySelector("img.tp-preview").hidden).toBe(true);
  });

  it("replaces the preview with the final images", () => {
    const model = fakeModel({ status: "success", nodes: [], executing: "", can_interrupt: true });
    render({ model, el });
    model.setPreview("image/jpeg", "2", new DataView(new ArrayBuffer(2)));
    const png = new DataView(new Uint8Array([0x89, 0x50]).buffer);
    model.set("final_images", [png, png]);
    const finals = el.querySelectorAll(".tp-images img.tp-final");
    expect(finals).toHaveLength(2);
    expect(el.querySelector("img.tp-preview")).toBeNull();
    expect(urls.revoked).toContain("blob:fake/1");
  });

  it("cleans up every listener and object URL when the view goes away", () => {
    const model = fakeModel({ status: "running", nodes: rows, executing: "", can_interrupt: true });
    const dispose = render({ model, el });
    expect(model.listenerCount()).toBeGreaterThan(0);
    const button = el.querySelector("button.tp-interrupt");
    model.setPreview("image/png", "2", new DataView(new ArrayBuffer(1)));
    dispose();
    expect(model.listenerCount()).toBe(0);
    expect(urls.revoked).toEqual(["blob:fake/1"]);
    button.click();
    expect(model.sent).toHaveLength(0);
    model.set("status", "success"); // no listener left: nothing changes
    expect(el.querySelector(".tp-status").textContent).toBe("running");
  });
});
