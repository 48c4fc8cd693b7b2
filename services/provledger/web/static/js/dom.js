// DOM building without markup: every string from the server goes in as text, never as HTML.
//
// The page never assigns innerHTML (or outerHTML, insertAdjacentHTML) with data: a name, an
// attribute or a reason from the API is as untrusted as any input. `el` sets text with
// textContent and attributes with setAttribute, so nothing a server sends can become markup
// or a script (the Content-Security-Policy would refuse inline script anyway).

/**
 * @param {string} tag
 * @param {Record<string, unknown>} [props] attributes; `on<event>` functions become listeners;
 *   `dataset` an object of data- attributes; null and undefined values are skipped
 * @param {...(Node | string | number | null | undefined | false)} children text or nodes
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    } else if (name === "dataset") {
      for (const [key, data] of Object.entries(/** @type {Record<string, string>} */ (value))) {
        node.dataset[key] = String(data);
      }
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, ...children);
  return node;
}

/** @param {Node} node @param {...(Node | string | number | null | undefined | false)} children */
export function append(node, ...children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace every child of `node` with `children`. @param {Node} node @param {...any} children */
export function replace(node, ...children) {
  while (node.firstChild) node.removeChild(node.firstChild);
  append(node, ...children);
}

/** @param {string} id @returns {HTMLElement} the element, which the page's HTML must have */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page lacks #${id}`);
  return node;
}

/** A file download of `blob` named `name`, through a short-lived object URL. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
